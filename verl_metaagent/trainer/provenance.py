"""What a checkpoint was trained with, written next to it, so the next stage cannot silently disagree.

The designer prompt variant is the one setting that must agree across the pipeline (cold-start SFT
stores ``short`` designer prompts; RL after it and the evaluation of its checkpoints must use
``short`` too). The MetaAgent-X trainer writes :data:`RUN_FILE` into every checkpoint it saves; the
pipeline (``recipes/run_paper_pipeline.sh``) copies it next to the exported Hugging Face weights and
writes one for the SFT stage; :func:`check_prompt_variant` (run at start-up by ``verl_metaagent.main``
and ``dry_run``) refuses a run whose ``metaagent.rollout.prompt_variant`` differs from the variant
its model was trained with. Pure: JSON and paths only.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from verl_metaagent.utils.config_utils import require

RUN_FILE = "metaagent_run.json"


def run_info(prompt_variant: str, stage: str, **extra: Any) -> dict:
    """The record written next to a checkpoint."""
    return {"prompt_variant": str(prompt_variant), "stage": str(stage), **extra}


def write_run_info(directory: str, info: dict) -> str:
    """Write ``info`` to ``<directory>/metaagent_run.json`` (atomic replace); returns the path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, RUN_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
    return path


def read_run_info(model_path: str) -> Optional[dict]:
    """The record of a local model folder (or its parent: ``global_step_N/{actor,huggingface}``), if any."""
    if not model_path or not os.path.isdir(model_path):
        return None
    for folder in (model_path, os.path.dirname(os.path.abspath(model_path))):
        path = os.path.join(folder, RUN_FILE)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            return data if isinstance(data, dict) else None
    return None


def check_prompt_variant(model_path: str, prompt_variant: str) -> None:
    """Refuse a run whose prompt variant differs from the one its model was trained with.

    Raises:
        ConfigError: naming ``metaagent.rollout.prompt_variant`` and the value to set.
    """
    info = read_run_info(model_path)
    if not info or "prompt_variant" not in info:
        return
    trained = str(info["prompt_variant"])
    require(
        trained == str(prompt_variant),
        "metaagent.rollout.prompt_variant",
        f"is {prompt_variant!r}, but {model_path} was trained ({info.get('stage', 'training')}) with the {trained!r} "
        f"designer prompt ({RUN_FILE})",
        f"set metaagent.rollout.prompt_variant={trained}",
    )
