"""The ``cpu`` rollout for verl 0.9.1 (``actor_rollout_ref.rollout.name=cpu``).

verl's rollout has two halves and this module provides both:

* :class:`CPUReplica` (registered with ``RolloutReplicaRegistry`` under ``"cpu"``) launches one
  :class:`CPURolloutServer` Ray actor per replica. The server holds the policy as a plain
  transformers model and answers verl's token-in/token-out call
  ``generate(prompt_ids, sampling_params, request_id, ...) -> TokenOutput`` with sampled token ids
  and their log-probabilities. Sleep / wake-up / KV-cache / abort calls are accepted and do
  nothing (there is no accelerator memory to hand back and no persistent KV cache).
* :class:`CPUServerAdapter` is the trainer-side half (verl's private rollout registry entry
  ``("cpu", "async")``, added by :func:`verl_metaagent.cpu.patches.register_cpu_rollout_adapter`):
  after each training step it collects the engine's full parameters and pushes them to the
  server actor through Ray.

Generation reuses the core of :mod:`verl_metaagent.backends.transformers_backend` (KV-cached
incremental decoding with temperature / top-k / top-p), so the in-process backend and this server
share one generation implementation; its log-prob convention is the backend's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import types
from typing import Any, Generator, Optional

import ray
import torch

from verl_metaagent.cpu import CPU_NAME, cpu_platform_active

logger = logging.getLogger(__name__)

#: Ray actor name prefix of the rollout servers (``cpu_server_<replica>_<node>``).
SERVER_NAME_PREFIX = f"{CPU_NAME}_"

#: rollout engine -> the command that installs it (run in the verl-metaagent checkout).
ENGINE_INSTALL_COMMANDS = {
    "vllm": 'pip install -e ".[gpu]" && pip install flash-attn --no-build-isolation',
    "sglang": 'pip install -e ".[sglang]" && pip install flash-attn --no-build-isolation',
}

#: Message for GPU rollout names whose engine is not installed.
_GPU_EXTRA_HINT = (
    "actor_rollout_ref.rollout.name={name} needs the {name} package, which is not installed ({err}). "
    "{install}, or on a machine without a GPU run with "
    "VERL_PLATFORM=cpu and actor_rollout_ref.rollout.name=cpu (see docs/cpu.md)."
)


def install_hint(name: str) -> str:
    """How to install rollout engine ``name`` (the README's GPU section has the same commands)."""
    command = ENGINE_INSTALL_COMMANDS.get(name)
    if command is None:
        return f"Install {name} as verl's documentation describes (verl-metaagent has no extra for it)"
    return f"Install it from the verl-metaagent checkout with `{command}`"


def _cfg_get(cfg: Any, key: str, default: Any = None) -> Any:
    """Read ``key`` from a dataclass, DictConfig or dict config."""
    if cfg is None:
        return default
    if isinstance(cfg, dict):
        return cfg.get(key, default)
    try:
        return getattr(cfg, key)
    except AttributeError:
        getter = getattr(cfg, "get", None)
        return getter(key, default) if callable(getter) else default


def server_actor_name(replica_rank: int, node_rank: int = 0, suffix: str = "") -> str:
    """Ray actor name of the rollout server of ``replica_rank`` on ``node_rank``."""
    return f"{SERVER_NAME_PREFIX}server_{replica_rank}_{node_rank}{suffix}"


class _GenerationCore:
    """The generation core of :mod:`verl_metaagent.backends.transformers_backend`, behind one call shape.

    That module is shared with the in-process backend and its API is still moving; this adapter
    accepts both of its forms (``TransformersGenerator.generate`` returning a result object, or
    ``TransformersBackend.generate_sync`` on parsed parameters returning a tuple) so the server
    keeps one generation implementation with the rest of the project.
    """

    def __init__(self, path: str, max_model_len: int, default_max_tokens: int, seed: int,
                 logprobs_mode: str = "processed_logprobs"):
        import inspect

        from verl_metaagent.backends import transformers_backend as tb

        self._tb = tb
        if hasattr(tb, "TransformersGenerator"):
            self.impl = tb.TransformersGenerator(
                path, max_model_len=max_model_len, default_max_tokens=default_max_tokens, seed=seed
            )
            self._style = "generator"
        else:
            kwargs: dict[str, Any] = {"default_max_tokens": default_max_tokens}
            if "logprobs_mode" in inspect.signature(tb.TransformersBackend).parameters:
                # verl's rollout.logprobs_mode: processed_logprobs (default) = log_softmax(logits / T),
                # what the actor recomputes; raw_logprobs = log_softmax(logits)
                kwargs["logprobs_mode"] = "raw" if str(logprobs_mode).startswith("raw") else "processed"
            self.impl = tb.TransformersBackend(path, **kwargs)
            self.impl.max_model_len = min(int(self.impl.max_model_len), max_model_len)
            self._style = "backend"
        self.model = self.impl.model
        self.default_max_tokens = default_max_tokens

    def generate(self, prompt_ids: list[int], params: dict[str, Any]) -> tuple[list[int], list[float], str]:
        """Blocking generation -> ``(token ids, log-probs, finish reason)``."""
        if self._style == "generator":
            result = self.impl.generate(prompt_ids, params)
            return list(result.token_ids), list(result.log_probs), str(result.finish_reason)
        parsed = self._tb.parse_sampling_params(params, self.default_max_tokens)
        parsed["logprobs"] = True
        ids, lps, reason = self.impl.generate_sync(prompt_ids, parsed)
        return list(ids), list(lps), str(reason)

    def load_weights(self, named_tensors: dict[str, torch.Tensor]) -> int:
        """Copy the tensors into the model; unknown names raise ``KeyError``."""
        loader = getattr(self.impl, "load_weights", None) or self.impl.update_weights
        return int(loader(named_tensors))


class CPURolloutServer:
    """Serves the policy with plain transformers on the host CPU (one Ray actor per replica).

    Args:
        config: verl ``RolloutConfig`` (``prompt_length``, ``response_length``, ``max_model_len``).
        model_config: verl ``HFModelConfig`` (``local_path`` of the HF checkpoint).
        replica_rank: rank of the replica this server belongs to.
        node_rank: node index inside the replica (always 0 on CPU).
    """

    def __init__(self, config: Any, model_config: Any, replica_rank: int = 0, node_rank: int = 0):
        self.config = config
        self.model_config = model_config
        self.replica_rank = replica_rank
        self.node_rank = node_rank
        self.generator: Optional[_GenerationCore] = None  # built in launch()
        self.model = None
        self.global_steps: Optional[int] = None
        self.weight_version = 0
        self._running = 0

    # ------------------------------------------------------------------ lifecycle
    def launch(self) -> str:
        """Load the model from ``model_config.local_path`` (or ``path``); return the server address."""
        import torch

        path = _cfg_get(self.model_config, "local_path") or _cfg_get(self.model_config, "path")
        if not path:
            raise ValueError("cpu rollout: actor_rollout_ref.model.path is not set")
        torch.set_num_threads(max(1, int(os.environ.get("VERL_METAAGENT_CPU_ROLLOUT_THREADS", "1"))))
        prompt_length = int(_cfg_get(self.config, "prompt_length", 512))
        response_length = int(_cfg_get(self.config, "response_length", 512))
        self.generator = _GenerationCore(
            path,
            max_model_len=int(_cfg_get(self.config, "max_model_len") or (prompt_length + response_length)),
            default_max_tokens=response_length,
            seed=int(_cfg_get(self.config, "seed", 0) or 0) + self.replica_rank,
            logprobs_mode=str(_cfg_get(self.config, "logprobs_mode", "processed_logprobs") or "processed_logprobs"),
        )
        self.model = self.generator.model
        return self.address()

    def address(self) -> str:
        """A unique pseudo address (verl keys its load balancer by address; there is no HTTP server)."""
        return f"{CPU_NAME}://replica-{self.replica_rank}-node-{self.node_rank}"

    # ------------------------------------------------------------------ generation
    def _max_tokens(self, prompt_len: int, sampling_params: dict[str, Any]) -> int:
        """Same budget rule as verl's vLLM server: explicit ``max_tokens``/``max_new_tokens``, else
        ``response_length`` capped by ``prompt_length + response_length - len(prompt)``; at least 1."""
        prompt_length = int(_cfg_get(self.config, "prompt_length", 512))
        response_length = int(_cfg_get(self.config, "response_length", 512))
        max_model_len = _cfg_get(self.config, "max_model_len") or (prompt_length + response_length)
        if "max_tokens" in sampling_params:
            budget = int(sampling_params["max_tokens"])
        elif "max_new_tokens" in sampling_params:
            budget = int(sampling_params["max_new_tokens"])
        else:
            budget = min(response_length, prompt_length + response_length - prompt_len)
        return max(1, min(budget, int(max_model_len) - prompt_len))

    async def generate(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        request_id: str,
        image_data: Any = None,
        video_data: Any = None,
        **kwargs: Any,
    ):
        """Sample a continuation of ``prompt_ids``; return verl's ``TokenOutput``.

        Args:
            prompt_ids: prompt token ids.
            sampling_params: ``temperature`` (0 = greedy), ``top_p``, ``top_k`` (-1/0 = off),
                ``logprobs`` (return per-token log-probs), optional ``max_tokens``.
            request_id: verl's request id (logged only; there is no session state).
            image_data, video_data: must be None (text-only server).
        """
        from verl.workers.rollout.replica import TokenOutput

        if image_data is not None or video_data is not None:
            raise NotImplementedError("cpu rollout serves text-only models (got image/video data)")
        if self.generator is None:
            raise RuntimeError("cpu rollout server used before launch()")
        params = dict(sampling_params or {})
        params["max_tokens"] = self._max_tokens(len(prompt_ids), params)
        params.pop("max_new_tokens", None)
        self._running += 1
        try:  # the backend serialises requests with its own lock
            token_ids, log_probs, finish = await asyncio.to_thread(self.generator.generate, list(prompt_ids), params)
        finally:
            self._running -= 1
        return TokenOutput(
            token_ids=token_ids,
            log_probs=log_probs if bool(params.get("logprobs", True)) else None,
            stop_reason="completed",
            extra_fields={"global_steps": self.global_steps, "finish_reason": finish},
        )

    # ------------------------------------------------------------------ weights
    def update_weights(self, named_tensors: dict[str, torch.Tensor], global_steps: Optional[int] = None) -> int:
        """Load the trainer's parameters (HF names) into the served model; return how many matched.

        Raises:
            ValueError: if none of the names match the served model (wrong checkpoint layout).
        """
        if self.generator is None:
            raise RuntimeError("cpu rollout server got weights before launch()")
        loaded = self.generator.load_weights(named_tensors)  # KeyError on an unknown name
        if named_tensors and loaded == 0:
            raise ValueError("cpu rollout: the trainer pushed weights but none were loaded")
        self.weight_version += 1
        if global_steps is not None:
            self.global_steps = global_steps
        return loaded

    def get_weight_version(self) -> int:
        """Number of weight updates received (for tests and logging)."""
        return self.weight_version

    # ------------------------------------------------------------------ no-op control calls
    async def wake_up(self, tags: Optional[list[str]] = None) -> None:
        """No-op: weights stay in host memory."""

    async def sleep(self) -> None:
        """No-op: nothing to release."""

    async def clear_kv_cache(self) -> None:
        """No-op: the KV cache lives only for the length of one request."""

    async def release_kv_cache(self) -> None:
        """No-op (see :meth:`clear_kv_cache`)."""

    async def resume_kv_cache(self) -> None:
        """No-op (see :meth:`clear_kv_cache`)."""

    async def abort_all_requests(self, reject_request: bool = False) -> dict[str, Any]:
        """Nothing is aborted: requests run to completion. Returns verl's abort summary shape."""
        return {"aborted_count": 0, "request_ids": []}

    async def resume_generation(self) -> None:
        """No-op (nothing is ever paused)."""

    async def start_profile(self, **kwargs: Any) -> None:
        """No-op: no device profiler."""

    async def stop_profile(self) -> None:
        """No-op: no device profiler."""

    async def wait_for_requests_to_drain(self) -> None:
        """Wait until no generation is running."""
        while self._running:
            await asyncio.sleep(0.01)


def _make_replica_class(rollout_replica_base: type) -> type:
    """Create :class:`CPUReplica` from verl's ``RolloutReplica`` (passed in to avoid an import cycle)."""

    class CPUReplica(rollout_replica_base):
        """verl rollout replica that serves the policy on the host CPU with transformers."""

        def rollout_worker_use_gpu(self) -> bool:
            return False

        async def launch_servers(self) -> None:
            """Start the server actor (no Ray CPU reserved: it shares the trainer's cores)."""
            if not cpu_platform_active():
                raise RuntimeError(
                    "actor_rollout_ref.rollout.name=cpu needs the cpu platform: set VERL_PLATFORM=cpu "
                    "and VERL_USE_EXTERNAL_MODULES=verl_metaagent (see docs/cpu.md)"
                )
            if self.nnodes != 1:
                raise ValueError(f"cpu rollout runs on one node per replica; got nnodes={self.nnodes}")
            server_cls = ray.remote(CPURolloutServer)
            name = server_actor_name(self.replica_rank, 0, self.name_suffix)
            if self.is_reward_model:
                name = f"{SERVER_NAME_PREFIX}server_reward_{self.replica_rank}_0{self.name_suffix}"
            elif self.is_teacher_model:
                name = f"{SERVER_NAME_PREFIX}server_teacher_{self.replica_rank}_0{self.name_suffix}"
            server = server_cls.options(
                name=name,
                num_cpus=0,
                max_concurrency=self.max_concurrency,
            ).remote(
                config=self.config,
                model_config=self.model_config,
                replica_rank=self.replica_rank,
                node_rank=0,
            )
            self.servers = [server]
            self._server_address = await server.launch.remote()
            self._server_handle = server

    return CPUReplica


CPUReplica: Optional[type] = None


def _make_adapter_class() -> type:
    """Create :class:`CPUServerAdapter` from verl's ``BaseRollout``."""
    from verl.workers.rollout.base import BaseRollout

    class CPUServerAdapter(BaseRollout):
        """Trainer-side half of the cpu rollout: pushes the engine's weights to the server actor.

        Every trainer rank iterates the weight generator (FSDP gathers collectively); only the
        rank that owns the server (rollout rank 0 of each replica) sends.
        """

        def __init__(self, config: Any, model_config: Any, device_mesh: Any, replica_rank: int = -1):
            super().__init__(config, model_config, device_mesh)
            rank = int(os.environ.get("RANK", 0))
            world = (
                self.config.tensor_model_parallel_size
                * self.config.data_parallel_size
                * self.config.pipeline_model_parallel_size
            )
            self.replica_rank = rank // world if replica_rank == -1 else replica_rank
            # metaagent.parameters=separate: the designer's workers serve replicas numbered after the executor's
            self.replica_rank += int(os.environ.get("VERL_METAAGENT_REPLICA_RANK_OFFSET", "0") or 0)
            self.rollout_rank = rank % world
            self._has_server = self.rollout_rank == 0
            self.server_handle = None

        def _server(self):
            """The server actor of this rank's replica (looked up lazily: it starts after the trainer)."""
            if not self._has_server:
                return None
            if self.server_handle is None:
                self.server_handle = ray.get_actor(server_actor_name(self.replica_rank, 0))
            return self.server_handle

        async def resume(self, tags: list[str]):
            """No-op on CPU (kept to honour verl's call order)."""
            server = self._server()
            if server is not None:
                await server.wake_up.remote(tags=tags)

        async def release(self):
            """No-op on CPU (kept to honour verl's call order)."""
            server = self._server()
            if server is not None:
                await server.sleep.remote()

        @torch.no_grad()
        async def update_weights(
            self,
            weights: Generator[tuple[str, torch.Tensor], None, None],
            wire_format: str = "named_tensors",
            global_steps: Optional[int] = None,
            **kwargs: Any,
        ):
            """Collect full CPU copies of the parameters and send them to the server."""
            if wire_format != "named_tensors":
                raise ValueError(
                    f"cpu rollout supports checkpoint wire_format='named_tensors' only; got {wire_format!r} "
                    "(use actor_rollout_ref.rollout.checkpoint_engine.backend=naive)"
                )
            collected: dict[str, torch.Tensor] = {}
            for name, tensor in weights:
                if hasattr(tensor, "full_tensor"):  # DTensor shard -> full tensor (collective)
                    tensor = tensor.full_tensor()
                if self._has_server:
                    collected[name] = tensor.detach().to("cpu", copy=True).contiguous()
            server = self._server()
            if server is not None:
                await server.update_weights.remote(collected, global_steps)

    return CPUServerAdapter


def __getattr__(name: str) -> Any:
    """Build ``CPUServerAdapter`` on first access (verl imports it by dotted path)."""
    if name == "CPUServerAdapter":
        cls = _make_adapter_class()
        globals()["CPUServerAdapter"] = cls
        return cls
    raise AttributeError(name)


def missing_engine_error(name: str) -> Optional[ImportError]:
    """An ImportError naming the install command if rollout engine ``name`` is a GPU engine whose
    package is not installed; None otherwise (verl itself raises a bare ValueError there)."""
    import importlib.util

    package = {"vllm": "vllm", "sglang": "sglang", "trtllm": "tensorrt_llm"}.get(name)
    if package is None or importlib.util.find_spec(package) is not None:
        return None
    return ImportError(
        _GPU_EXTRA_HINT.format(name=name, err=f"no module named {package!r}", install=install_hint(name)))


def _wrap_gpu_loader(name: str, loader):
    """Wrap verl's loader for a GPU rollout engine so a missing package names the install command."""

    def load():
        error = missing_engine_error(name)
        if error is not None:
            raise error
        return loader()

    load.__doc__ = f"Load verl's {name} replica; if its package is missing, explain how to install it."
    load._verl_metaagent_wrapped = True  # type: ignore[attr-defined]
    return load


def register(replica_module: types.ModuleType) -> None:
    """Register :class:`CPUReplica` as rollout ``"cpu"`` and give verl's GPU engine loaders a clear
    install hint when their package is missing.

    Args:
        replica_module: the imported ``verl.workers.rollout.replica`` module.
    """
    global CPUReplica
    registry = replica_module.RolloutReplicaRegistry
    if CPUReplica is None:
        CPUReplica = _make_replica_class(replica_module.RolloutReplica)
    registry.register(CPU_NAME, lambda: CPUReplica)
    for gpu_name in ("vllm", "sglang", "trtllm"):
        loader = registry._registry.get(gpu_name)
        if loader is not None and not getattr(loader, "_verl_metaagent_wrapped", False):
            registry.register(gpu_name, _wrap_gpu_loader(gpu_name, loader))
