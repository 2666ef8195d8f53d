"""Cold-start SFT data for MetaAgent-X: distil designer and executor samples from a teacher.

The teacher (any OpenAI-compatible endpoint) designs and executes MetaAgent-X trees with the
same tree runner as training; designs that succeed and agents' chats from correct executions
become SFT samples, journaled so a long run can be killed and resumed, and exported as verl
multi-turn SFT parquet (and the public release's ShareGPT records) for
``recipes/run_sft_cold_start.sh``. See ``docs/cold_start.md``.

Modules, one job each:

* :mod:`.records`   -- :class:`SFTSample`, chat validation, the designer answer shape, content keys
* :mod:`.sharegpt`  -- the release's ``{"id", "conversations"}`` records, read and write
* :mod:`.select`    -- candidates from a graded tree; dedupe, per-problem caps, pattern balance (pure)
* :mod:`.journal`   -- the append-only fsync'd JSONL journal (resume state)
* :mod:`.runner`    -- the async distillation run
* :mod:`.export`    -- journal (+ imported samples) -> parquet / ShareGPT / stats
* :mod:`.sft_dataset` -- rollout-aligned tokenization for verl's SFT trainer (imports verl / torch)
* :mod:`.recipe`    -- compose and validate the SFT recipes in-process
* :mod:`.cli`       -- ``python -m verl_metaagent.distill {run,export,to-sharegpt,check-recipe}``
"""

from __future__ import annotations

from verl_metaagent.utils.lazy import lazy_exports

_EXPORTS = {
    "SFTSample": "records",
    "SampleError": "records",
    "format_designer_answer": "records",
    "split_designer_answer": "records",
    "read_sharegpt": "sharegpt",
    "write_sharegpt": "sharegpt",
    "SelectionConfig": "select",
    "candidates_from_tree": "select",
    "select": "select",
    "Journal": "journal",
    "read_journal": "journal",
    "DistillConfig": "runner",
    "TeacherConfig": "runner",
    "run_distill": "runner",
    "load_problems": "runner",
    "ExportConfig": "export",
    "export": "export",
    "write_sft_parquet": "export",
    "read_sft_parquet": "export",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
