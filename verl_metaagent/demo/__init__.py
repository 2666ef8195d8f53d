"""CPU end-to-end MetaAgent-X demo: ``python -m verl_metaagent.demo`` (see docs/demo.md).

* :mod:`.task` -- the built-in task (single-digit additions), the two warm-start designs, the
  prompts both roles see and the warm-start samples;
* :mod:`.warmstart` -- the supervised warm start of the tiny model (plain torch, cached);
* :mod:`.cli` -- the run: warm start, data, ``python -m verl_metaagent.main`` on the cpu
  platform, per-step progress, ``--resume``;
* :mod:`.report` -- per-step rows, summary and plot from verl's JSONL tracker.
"""
