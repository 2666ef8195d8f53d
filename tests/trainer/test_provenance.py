"""A checkpoint's designer prompt variant travels with it; a later stage that disagrees is refused."""

import pytest

from verl_metaagent.trainer.provenance import RUN_FILE, check_prompt_variant, read_run_info, run_info, write_run_info
from verl_metaagent.utils.config_utils import ConfigError


def test_mismatched_prompt_variant_is_refused(tmp_path):
    model = tmp_path / "global_step_30" / "huggingface"
    model.mkdir(parents=True)
    check_prompt_variant(str(model), "full")  # no record: nothing to compare
    write_run_info(str(model), run_info("short", "sft"))
    assert read_run_info(str(model)) == {"prompt_variant": "short", "stage": "sft"}
    check_prompt_variant(str(model), "short")
    with pytest.raises(ConfigError, match=r"metaagent.rollout.prompt_variant.*'full'.*'short'"
                                          r".*set metaagent.rollout.prompt_variant=short"):
        check_prompt_variant(str(model), "full")


def test_the_record_of_the_parent_step_folder_counts(tmp_path):
    step = tmp_path / "global_step_4"
    (step / "actor").mkdir(parents=True)
    write_run_info(str(step), run_info("short", "rl"))
    assert (step / RUN_FILE).exists()
    with pytest.raises(ConfigError):
        check_prompt_variant(str(step / "actor"), "full")
    check_prompt_variant("Qwen/Qwen3-4B", "full")  # a hub id has no record
