"""Hierarchical rollout: grow the M x N design-execute tree with the policy answering every call.

Pure pieces (``config``, ``tree``, ``rows``, ``faults``, ``tree_runner``) import no verl;
``worker`` / ``designer_loop`` / ``verl_glue`` are the verl glue.
"""
