"""preflight(config): every class of bad setting fails before Ray, naming the key and the fix."""

import importlib.util
import subprocess
import sys

import pandas as pd
import pytest

from verl_metaagent.config.preflight import CHARS_PER_TOKEN, designer_prompt_tokens, looks_like_hub_id, preflight
from verl_metaagent.utils.config_utils import ConfigError

QUESTION = "What is the sum of the first 100 positive integers?"


def write_parquet(path, rows=None, **drop):
    rows = rows or [{
        "data_source": "math/demo",
        "prompt": [{"role": "user", "content": QUESTION}],
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": "5050"},
        "extra_info": {"index": 0, "question": QUESTION},
    }]
    frame = pd.DataFrame(rows).drop(columns=[c for c in drop.get("drop", [])])
    frame.to_parquet(path)
    return str(path)


@pytest.fixture
def config(tmp_path):
    """A good config (hub id model, so prompt lengths are estimated)."""
    train = write_parquet(tmp_path / "train.parquet")
    return {
        "data": {"train_files": [train], "val_files": train, "train_batch_size": 8, "max_prompt_length": 8192,
                 "max_response_length": 1024, "prompt_key": "prompt"},
        "actor_rollout_ref": {"model": {"path": "Qwen/Qwen3-4B"},
                              "rollout": {"name": "cpu", "n": 1, "temperature": 1.0},
                              "actor": {"optim": {"lr": "1e-6"}}},
        "trainer": {"total_epochs": 1, "n_gpus_per_node": 1},
        "metaagent": {"rollout": {"prompt_variant": "full"}},
    }


def fails(config, *fragments):
    with pytest.raises(ConfigError) as info:
        preflight(config)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "Fix:" in message
    return message


def test_a_good_config_passes(config):
    preflight(config)


@pytest.mark.parametrize("key, value", [("data.train_batch_size", "abc"), ("data.train_batch_size", "8.5"),
                                        ("data.max_prompt_length", [1]), ("actor_rollout_ref.actor.optim.lr", "fast"),
                                        ("trainer.n_gpus_per_node", True)])
def test_numbers_must_parse(config, key, value):
    section, *rest = key.split(".")
    node = config[section]
    for part in rest[:-1]:
        node = node[part]
    node[rest[-1]] = value
    fails(config, f"{key} must be", repr(value), f"set {key}=")


def test_numbers_as_strings_that_parse_are_fine(config):
    config["data"]["train_batch_size"] = "16"
    preflight(config)


def test_missing_train_file_names_key_and_path(config, tmp_path):
    config["data"]["train_files"] = "/nonexistent.parquet"
    fails(config, "data.train_files names '/nonexistent.parquet', which does not exist")


def test_missing_val_file_names_its_key(config):
    config["data"]["val_files"] = ["/data/missing_val.parquet"]
    fails(config, "data.val_files names '/data/missing_val.parquet'")


def test_unset_train_files(config):
    config["data"]["train_files"] = None
    fails(config, "data.train_files is not set")


def test_a_file_that_is_not_parquet(config, tmp_path):
    bad = tmp_path / "train.parquet"
    bad.write_text("question,answer\n1+1,2\n")
    config["data"]["train_files"] = str(bad)
    fails(config, "data.train_files", "not a readable parquet file")


def test_parquet_without_the_columns_we_read(config, tmp_path):
    config["data"]["train_files"] = write_parquet(tmp_path / "noreward.parquet", drop=["reward_model"])
    fails(config, "data.train_files", "no column(s) reward_model")
    config["data"]["train_files"] = write_parquet(tmp_path / "ok.parquet")
    config["data"]["prompt_key"] = "messages"
    fails(config, "no column(s) messages", "data.prompt_key")


@pytest.mark.parametrize("path", ["/nonexistent/model", "./checkpoints/missing", "~/models/none", "not a model"])
def test_model_path_must_exist_or_be_a_hub_id(config, path):
    config["actor_rollout_ref"]["model"]["path"] = path
    fails(config, "actor_rollout_ref.model.path", repr(path))


def test_model_path_that_is_a_file(config, tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"x")
    config["actor_rollout_ref"]["model"]["path"] = str(weights)
    fails(config, "actor_rollout_ref.model.path", "is a file, not a model folder")


def test_hub_ids():
    assert looks_like_hub_id("Qwen/Qwen3-4B") and looks_like_hub_id("Mercury7353/MetaAgent-X")
    assert (not looks_like_hub_id("/abs/path") and not looks_like_hub_id("./Qwen/x")
            and not looks_like_hub_id("Qwen3-4B"))


def test_missing_rollout_engine_names_the_install_command(config, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sglang" else real(name, *a))
    config["actor_rollout_ref"]["rollout"]["name"] = "sglang"
    fails(config, "actor_rollout_ref.rollout.name=sglang", 'pip install -e ".[sglang]"')


def test_designer_prompt_longer_than_max_prompt_length_estimated(config):
    config["data"]["max_prompt_length"] = 64
    message = fails(config, "data.max_prompt_length is 64, too short",
                    f"estimated at {CHARS_PER_TOKEN} characters per token", "metaagent.rollout.prompt_variant=short")
    needed = int(message.split("set data.max_prompt_length>=")[1].split()[0])
    config["data"]["max_prompt_length"] = needed
    preflight(config)  # the number it asks for is enough


def test_designer_prompt_length_counted_with_the_tokenizer(config, tiny_model_dir, tiny_tokenizer):
    from verl_metaagent.rollout.tree_runner import ProblemSpec, designer_messages

    config["actor_rollout_ref"]["model"]["path"] = tiny_model_dir
    messages = designer_messages(ProblemSpec("p", 0, QUESTION, "math", "math/demo", "5050"), "full")
    exact, counted = designer_prompt_tokens(messages, tiny_tokenizer)
    ids = tiny_tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    assert counted and exact == len(ids["input_ids"] if hasattr(ids, "keys") else ids)
    config["data"]["max_prompt_length"] = exact - 1
    fails(config, f"is {exact} tokens (the model's tokenizer)", f"set data.max_prompt_length>={exact}")
    config["data"]["max_prompt_length"] = exact
    preflight(config)


def test_preflight_does_not_start_or_import_ray(config, tmp_path):
    config["data"]["train_files"] = "/nonexistent.parquet"
    code = (
        "import sys\n"
        "from verl_metaagent.config.preflight import preflight\n"
        "from verl_metaagent.utils.config_utils import ConfigError\n"
        f"try:\n    preflight({config!r})\nexcept ConfigError as e:\n    print('ERR', e)\n"
        "print('ray imported:', 'ray' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert "ERR data.train_files" in out and "ray imported: False" in out


def test_dry_run_lists_every_unusable_data_file(config, tmp_path):
    from verl_metaagent.dry_run import data_warnings

    assert data_warnings(config) == []
    config["data"]["train_files"] = ["/nonexistent/a.parquet", "/nonexistent/b.parquet"]
    warnings = data_warnings(config)
    assert len(warnings) == 2 and all(w.startswith("data.train_files names '/nonexistent/") for w in warnings)


def test_a_data_source_without_a_grader_fails_before_any_llm_call(tmp_path):
    """reward_fns grades the rollout: every data_source of the data must have a grader (issue: open registry)."""
    import pandas as pd
    import pytest

    from verl_metaagent.config.preflight import check_graders_for_data
    from verl_metaagent.utils.config_utils import ConfigError

    path = tmp_path / "train.parquet"
    row = {"prompt": [{"role": "user", "content": "q"}], "reward_model": {"ground_truth": "1"},
           "extra_info": {"index": 0}}
    pd.DataFrame([{**row, "data_source": "math/aime24"}, {**row, "data_source": "my/unknown_source"}]).to_parquet(path)
    config = {"data": {"train_files": [str(path)], "val_files": []},
              "reward": {"custom_reward_function": {"path": None}}}
    with pytest.raises(ConfigError, match=r"data.train_files.*'my/unknown_source'"):
        check_graders_for_data(config)
    # a custom reward function grades instead: nothing to check
    check_graders_for_data({**config, "reward": {"custom_reward_function": {"path": "/x/my_reward.py"}}})


def _checkpoint(root, step: int, parameters: str):
    """A ``global_step_N`` folder as our trainer writes it, with verl's tracker file."""
    import json

    folder = root / f"global_step_{step}"
    (folder / "actor").mkdir(parents=True)
    (folder / "actor" / "metaagent_run.json").write_text(json.dumps({"parameters": parameters}))
    if parameters == "separate":
        (folder / "designer_actor").mkdir()
    (root / "latest_checkpointed_iteration.txt").write_text(str(step))
    return folder


def test_resuming_a_checkpoint_of_the_other_parameters_fails_before_ray(config, tmp_path):
    ckpts = tmp_path / "ckpts"
    _checkpoint(ckpts, 2, "separate")
    config["trainer"].update(default_local_dir=str(ckpts), resume_mode="auto")
    fails(config, "metaagent.parameters is 'shared'", "global_step_2", "metaagent.parameters=separate")
    config["metaagent"]["parameters"] = "separate"
    preflight(config)  # the same parameters: resumes
    from verl_metaagent.trainer.separate_params import check_resume_config

    assert check_resume_config(config) == str(ckpts / "global_step_2")  # the folder the trainer then loads
    config["metaagent"]["parameters"] = "shared"
    config["trainer"]["resume_mode"] = "disable"
    preflight(config)  # a fresh start ignores the checkpoint
