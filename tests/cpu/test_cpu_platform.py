"""The cpu platform, its workarounds, and the cpu rollout server.

The workarounds must apply only on the cpu platform: each probe runs in a fresh interpreter
(verl caches its platform per process) with or without ``VERL_PLATFORM=cpu`` and reports what
verl looks like after import.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_assets import build_tiny_model  # noqa: E402

PROBE = r'''
import json, os
import verl  # imports VERL_USE_EXTERNAL_MODULES -> verl_metaagent (lazy hooks)
from verl.plugin.platform.platform_manager import PlatformRegistry
from verl.single_controller.ray.base import ResourcePoolManager
import verl.utils.distributed as dist_utils
from verl.workers.engine import EngineRegistry
from verl.workers.rollout import base as rollout_base
from verl.workers.rollout.replica import RolloutReplicaRegistry

cpu_cls = PlatformRegistry.get("cpu")
report = {
    "registered": cpu_cls is not None,
    "cpu_autodetects": cpu_cls().is_platform_available(use_smi_check=True),
    "resource_check_patched": hasattr(ResourcePoolManager._check_resource_available, "_verl_metaagent_cpu_patched"),
    "dist_patched": hasattr(dist_utils.initialize_global_process_group_ray, "_verl_metaagent_cpu_patched"),
    "cpu_engine": "cpu" in EngineRegistry._engines["language_model"]["fsdp2"],
    "cpu_adapter": rollout_base._ROLLOUT_REGISTRY.get(("cpu", "async")),
    "cpu_replica": "cpu" in RolloutReplicaRegistry._registry,
}
try:
    RolloutReplicaRegistry.get("vllm")
    report["vllm_error"] = None
except ImportError as exc:
    report["vllm_error"] = str(exc)
try:
    rollout_base.get_rollout_class("vllm", "async")
    report["vllm_adapter_error"] = None
except ImportError as exc:
    report["vllm_adapter_error"] = str(exc)
if os.environ.get("VERL_PLATFORM") == "cpu":
    import torch
    from verl.plugin.platform import get_platform
    from verl.utils.device import get_torch_device
    p = get_platform()
    report.update(
        device=p.device_name,
        current_device=p.current_device(),
        backend=p.communication_backend_name(),
        ray_opts=p.ray_resource_options(0.5),
        engine_cls=EngineRegistry.get_engine_cls("language_model", "fsdp2").__name__,
        adapter_cls=rollout_base.get_rollout_class("cpu", "async").__name__,
        mem_counter=get_torch_device().memory_allocated(),
    )
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(29000 + os.getpid() % 1000))
    dist_utils.initialize_global_process_group_ray()
    report["pg_backend"] = str(torch.distributed.get_backend())
    torch.distributed.destroy_process_group()
print("REPORT=" + json.dumps(report))
'''


def _probe(cpu: bool) -> dict:
    env = dict(os.environ, VERL_USE_EXTERNAL_MODULES="verl_metaagent")
    env.pop("VERL_PLATFORM", None)
    if cpu:
        env["VERL_PLATFORM"] = "cpu"
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("REPORT=")][-1]
    return json.loads(line[len("REPORT="):])


def _vllm_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


@pytest.mark.slow
def test_gpu_users_get_stock_verl():
    """Without VERL_PLATFORM=cpu: the class is registered but inert, and no workaround is applied."""
    r = _probe(cpu=False)
    assert r["registered"] is True
    assert r["cpu_autodetects"] is False
    assert r["resource_check_patched"] is False
    assert r["dist_patched"] is False
    assert r["cpu_engine"] is False
    assert r["cpu_adapter"] is None
    assert r["cpu_replica"] is True  # a name in the registry; used only if rollout.name=cpu
    if not _vllm_installed():
        assert 'pip install -e ".[gpu]"' in r["vllm_error"]
        assert 'pip install -e ".[gpu]"' in r["vllm_adapter_error"]


@pytest.mark.slow
def test_cpu_platform_applies_workarounds():
    """With VERL_PLATFORM=cpu: gloo, Ray CPU resource, engines and the rollout adapter resolve."""
    r = _probe(cpu=True)
    assert r["device"] == "cpu"
    assert r["current_device"] == "cpu"
    assert r["backend"] == "gloo"
    assert r["ray_opts"] == {"num_cpus": 0.5}
    assert r["resource_check_patched"] is True
    assert r["dist_patched"] is True
    assert r["cpu_engine"] is True
    assert r["engine_cls"] == "FSDPEngineWithLMHead"
    assert r["cpu_adapter"] == "verl_metaagent.cpu.replica.CPUServerAdapter"
    assert r["adapter_cls"] == "CPUServerAdapter"
    assert r["mem_counter"] == 0
    assert r["pg_backend"] == "cpu:gloo"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("cpu_model") / "model")


def test_rollout_server_generates_and_takes_weights(tiny_model):
    """The server answers verl's generate call and loads pushed weights (no Ray needed)."""
    import torch

    from verl_metaagent.cpu.replica import CPURolloutServer

    server = CPURolloutServer(
        config={"prompt_length": 32, "response_length": 6}, model_config={"local_path": str(tiny_model)}
    )
    assert server.launch().startswith("cpu://replica-0")
    params = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True}
    out = asyncio.run(server.generate(prompt_ids=[5, 6, 7, 8], sampling_params=params, request_id="r0"))
    assert 1 <= len(out.token_ids) <= 6
    assert len(out.log_probs) == len(out.token_ids)
    assert all(lp <= 0.0 for lp in out.log_probs)
    assert out.stop_reason == "completed"

    greedy = {"temperature": 0, "max_tokens": 4}
    before = asyncio.run(server.generate(prompt_ids=[5, 6, 7], sampling_params=greedy, request_id="g"))
    state = {k: v.clone() for k, v in server.model.state_dict().items()}
    loaded = server.update_weights({k: torch.zeros_like(v) for k, v in state.items()}, global_steps=3)
    assert loaded >= 1 and server.get_weight_version() == 1
    after = asyncio.run(server.generate(prompt_ids=[5, 6, 7], sampling_params=greedy, request_id="g"))
    assert after.extra_fields["global_steps"] == 3
    assert after.token_ids == [0] * len(after.token_ids)  # all-zero weights -> uniform -> argmax 0
    server.update_weights(state)
    restored = asyncio.run(server.generate(prompt_ids=[5, 6, 7], sampling_params=greedy, request_id="g"))
    assert restored.token_ids == before.token_ids
    with pytest.raises(KeyError):
        server.update_weights({"no.such.weight": torch.zeros(1)})
    assert asyncio.run(server.abort_all_requests()) == {"aborted_count": 0, "request_ids": []}


def test_max_tokens_rule(tiny_model):
    """Budget: explicit max_tokens wins; else response_length capped by the prompt+response window."""
    from verl_metaagent.cpu.replica import CPURolloutServer

    server = CPURolloutServer(config={"prompt_length": 10, "response_length": 8}, model_config={})
    assert server._max_tokens(4, {}) == 8
    assert server._max_tokens(14, {}) == 4
    assert server._max_tokens(4, {"max_tokens": 3}) == 3
    assert server._max_tokens(30, {}) == 1


AUTO_PROBE = r'''
import json, os
from omegaconf import OmegaConf
import verl
from verl.utils.device import auto_set_device
from verl.plugin.platform import get_platform
import verl.utils.distributed as dist_utils
cuda_cfg = OmegaConf.create({"trainer": {"device": "cuda"}})
auto_set_device(cuda_cfg)
before = os.environ.get("VERL_PLATFORM")
auto_set_device(OmegaConf.create({"trainer": {"device": "cpu"}}))
print("REPORT=" + json.dumps({
    "before": before,
    "env": os.environ.get("VERL_PLATFORM"),
    "device": get_platform().device_name,
    "dist_patched": hasattr(dist_utils.initialize_global_process_group_ray, "_verl_metaagent_cpu_patched"),
}))
'''


@pytest.mark.slow
def test_trainer_device_cpu_selects_platform_without_accelerator():
    """trainer.device=cpu on a host without GPU/NPU switches to the cpu platform (env set for Ray)."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("accelerator host: stock verl keeps the accelerator")
    env = dict(os.environ, VERL_USE_EXTERNAL_MODULES="verl_metaagent")
    env.pop("VERL_PLATFORM", None)
    proc = subprocess.run([sys.executable, "-c", AUTO_PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("REPORT=")][-1][len("REPORT="):])
    assert r == {"before": None, "env": "cpu", "device": "cpu", "dist_patched": True}


def test_rollout_logprobs_follow_verl_logprobs_mode(tiny_model):
    """With verl's default logprobs_mode (processed), a token's logprob is log_softmax(logits / T)."""
    import torch

    from verl_metaagent.cpu.replica import CPURolloutServer

    server = CPURolloutServer(
        config={"prompt_length": 32, "response_length": 1, "logprobs_mode": "processed_logprobs"},
        model_config={"local_path": str(tiny_model)},
    )
    server.launch()
    prompt = [5, 6, 7]
    out = asyncio.run(server.generate(prompt_ids=prompt, sampling_params={"temperature": 0.5, "logprobs": True},
                                      request_id="t"))
    with torch.no_grad():
        logits = server.model(input_ids=torch.tensor([prompt])).logits[0, -1].float()
    expected = torch.log_softmax(logits / 0.5, dim=-1)[out.token_ids[0]].item()
    assert abs(out.log_probs[0] - expected) < 1e-4
