"""The MetaAgent-X trainer (verl glue): ``MetaAgentRayTrainer`` and the per-step batch assembly.

Import :mod:`.ray_trainer` / :mod:`.batch_assembly` directly; this package imports nothing heavy.
"""
