"""Warm start of the demo's tiny model: a short supervised pass in plain torch / transformers.

A random tiny model never writes a valid design, so RL would have nothing to work with. Before
the RL run, the demo trains it for a minute or two on :func:`verl_metaagent.demo.task.warmstart_samples`:
the designer prompt -> one of the two demo designs (about 50/50), the agent prompt -> a noisy
answer (correct about half the time). Prompts are rendered with the tokenizer's chat template
exactly as the rollout renders them (:class:`verl_metaagent.clients.chat_tokens.ChatTokenizer`),
and the loss covers only the response tokens and the closing ``<|im_end|>``.

The result is a normal Hugging Face directory (model + tokenizer). It is cached: a marker file
stores a hash of every setting; a second call with the same settings returns at once.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

from verl_metaagent.demo import task as demo_task
from verl_metaagent.demo.tasks import get_task

#: Marker file written last into a finished warm-start directory.
MARKER = ".demo_warmstart.json"
#: Bump when the recipe changes in a way :class:`WarmStartConfig` does not capture.
WARMSTART_VERSION = "1"


@dataclass
class WarmStartConfig:
    """Settings of the supervised warm start (all part of the cache key).

    Attributes:
        steps: optimizer steps.
        batch_size: samples per step.
        lr: peak AdamW learning rate (linear warm-up over 5% of the steps, cosine decay to 10%).
        p_correct: share of executor targets with the correct sum (the rest are off by 1..3).
        designer_per_problem / executor_per_problem: samples per problem and role.
        hidden_size / num_layers: size of the tiny Qwen3 model.
        seed: seed of the data, the model init and the batch order.
        task_name: the demo task (``verl_metaagent.demo.tasks``): ``arith`` or ``family``.
    """

    steps: int = 500
    batch_size: int = 64
    lr: float = 3e-3
    p_correct: float = 0.5
    designer_per_problem: int = 4
    executor_per_problem: int = 16
    hidden_size: int = 64
    num_layers: int = 2
    seed: int = 0
    task_name: str = "arith"

    def digest(self) -> str:
        """Hash of the settings and of the task's fingerprint (the cache key)."""
        fields = asdict(self)
        task = get_task(fields.pop("task_name")).fingerprint
        blob = json.dumps({"version": WARMSTART_VERSION, "task": task, **fields}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def _is_done(out_dir: Path, digest: str) -> Optional[dict]:
    try:
        info = json.loads((out_dir / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return info if info.get("hash") == digest else None


def encode_sample(chat, sample: demo_task.WarmStartSample, eos_id: int) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)`` of one sample: the rendered prompt (labels -100) + response + eos."""
    prompt = chat.prompt_ids(sample.messages)
    response = chat.encode(sample.response) + [eos_id]
    return prompt + response, [-100] * len(prompt) + response


def response_logprob(model, chat, messages: list[dict], response: str, eos_id: int) -> float:
    """Log-probability (temperature 1) that the model answers ``messages`` with exactly ``response``."""
    import torch

    ids, labels = encode_sample(chat, demo_task.WarmStartSample("", messages, response, ""), eos_id)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1].float()
    logp = torch.log_softmax(logits, dim=-1)
    target = torch.tensor(labels[1:])
    mask = target != -100
    return float(logp[mask].gather(1, target[mask].unsqueeze(1)).sum())


def evaluate(model, chat, eos_id: int, problems: list, task_name: str = "arith", designer_model=None) -> dict:
    """Exact (teacher-forced, temperature 1) probabilities of the policy on ``problems``.

    One value per probe of the task (``DemoTask.probes``): the mean probability of answering the
    probe's messages with exactly its response. ``arith``: ``p_design_<name>`` (the designer
    writes that design verbatim) and ``p_executor_correct`` (one agent call answers
    ``\\boxed{sum}`` verbatim = single-call accuracy, up to other spellings of the sum).
    Designer probes (``p_design_*``) use ``designer_model`` when given (separate parameters).
    """
    out: dict = {}
    for name, pairs in get_task(task_name).probes(problems).items():
        policy = designer_model if designer_model is not None and name.startswith("p_design_") else model
        probs = [math.exp(response_logprob(policy, chat, messages, response, eos_id)) for messages, response in pairs]
        out[name] = sum(probs) / len(probs)
    return out


def load_policy(model_dir, checkpoint: Optional[Path] = None, actor_subdir: str = "actor"):
    """``(model, chat, eos_id)`` of the warm-started model, with the actor weights of a verl
    checkpoint (``<ckpt>/global_step_<n>/<actor_subdir>``, FSDP2 state dict of one rank) loaded
    over it if given."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from verl_metaagent.clients.chat_tokens import ChatTokenizer

    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    if checkpoint is not None:
        shards = sorted((Path(checkpoint) / actor_subdir).glob("model_world_size_*_rank_*.pt"))
        if len(shards) != 1:
            raise FileNotFoundError(
                f"expected one actor shard (world size 1) in {checkpoint}/{actor_subdir}, found {len(shards)}"
            )
        import logging

        mesh_log = logging.getLogger("torch.distributed.device_mesh")
        level = mesh_log.level
        mesh_log.setLevel(logging.ERROR)  # "unpickling of the DeviceMesh before the PGs": harmless here
        try:
            state = torch.load(shards[0], map_location="cpu", weights_only=False)
        finally:
            mesh_log.setLevel(level)
        state = {k: (v.to_local() if hasattr(v, "to_local") else v) for k, v in state.items()}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or [k for k in missing if k != "lm_head.weight"]:
            raise RuntimeError(
                f"checkpoint {checkpoint} does not match the model: missing {missing}, unexpected {unexpected}")
        model.tie_weights()
    return model, ChatTokenizer(tokenizer), tokenizer.convert_tokens_to_ids("<|im_end|>")


def evaluate_policy(
    model_dir,
    problems: list,
    checkpoint: Optional[Path] = None,
    task_name: str = "arith",
    designer_subdir: Optional[str] = None,
) -> dict:
    """:func:`evaluate` of the warm-started model or of a verl checkpoint of it (see :func:`load_policy`).

    ``designer_subdir``: with separate parameters, the checkpoint folder of the designer's actor
    (the executor's is verl's ``actor``); designer probes then use that policy.
    """
    model, chat, eos_id = load_policy(model_dir, checkpoint)
    designer = None
    if checkpoint is not None and designer_subdir:
        designer = load_policy(model_dir, checkpoint, designer_subdir)[0]
    return {k: round(v, 4) for k, v in evaluate(model, chat, eos_id, problems, task_name, designer).items()}


def warm_start(
    out_dir,
    cfg: Optional[WarmStartConfig] = None,
    *,
    log: Callable[[str], None] = print,
) -> tuple[str, dict]:
    """Build the tiny model, train it on the demo's warm-start samples, save it to ``out_dir``.

    Returns ``(model_dir, info)`` where ``info`` holds the settings, the final loss, the
    :func:`evaluate` probabilities and the seconds spent. Cached by the settings' hash.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from verl_metaagent.clients.chat_tokens import ChatTokenizer
    from verl_metaagent.demo.tiny_model import build_tiny_model

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    cfg = cfg or WarmStartConfig()
    out_dir = Path(out_dir).resolve()
    digest = cfg.digest()
    done = _is_done(out_dir, digest)
    if done is not None:
        log(f"[demo] warm start: reusing {out_dir} (same settings)")
        return str(out_dir), done

    started = time.monotonic()
    log(f"[demo] warm start: {cfg.steps} supervised steps on the task format -> {out_dir} (cached for re-runs)")
    task = get_task(cfg.task_name)
    problems = task.warmstart_pool(cfg.seed)
    init_dir = build_tiny_model(
        out_dir.parent / (out_dir.name + "_init"),
        corpus=task.tokenizer_corpus(problems),
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        seed=cfg.seed,
    )
    tokenizer = AutoTokenizer.from_pretrained(init_dir)
    chat = ChatTokenizer(tokenizer)
    eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad_id = tokenizer.pad_token_id
    samples = task.warmstart_samples(problems, cfg)
    encoded = [encode_sample(chat, s, eos_id) for s in samples]

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = AutoModelForCausalLM.from_pretrained(init_dir, dtype=torch.float32)
        model.train()
        optim = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0, betas=(0.9, 0.98))
        warmup = max(1, cfg.steps // 20)

        def lr_at(step: int) -> float:
            if step < warmup:
                return cfg.lr * (step + 1) / warmup
            progress = (step - warmup) / max(1, cfg.steps - warmup)
            return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

        gen = torch.Generator().manual_seed(cfg.seed)
        order: list[int] = []
        loss_ema = None
        for step in range(cfg.steps):
            if len(order) < cfg.batch_size:
                order.extend(torch.randperm(len(encoded), generator=gen).tolist())
            batch = [encoded[i] for i in order[: cfg.batch_size]]
            del order[: cfg.batch_size]
            width = max(len(ids) for ids, _ in batch)
            input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (ids, lab) in enumerate(batch):
                input_ids[row, : len(ids)] = torch.tensor(ids)
                labels[row, : len(lab)] = torch.tensor(lab)
                attention[row, : len(ids)] = 1
            for group in optim.param_groups:
                group["lr"] = lr_at(step)
            loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            value = float(loss.detach())
            loss_ema = value if loss_ema is None else 0.9 * loss_ema + 0.1 * value
            if (step + 1) % max(1, cfg.steps // 5) == 0 or step + 1 == cfg.steps:
                log(f"[demo] warm start: step {step + 1}/{cfg.steps}  loss {loss_ema:.3f}  "
                    f"({time.monotonic() - started:.0f} s)")
        model.eval()
        probs = evaluate(model, chat, eos_id, problems, cfg.task_name)

    info = {
        "hash": digest,
        "config": asdict(cfg),
        "loss": loss_ema,
        "samples": len(samples),
        "seconds": round(time.monotonic() - started, 1),
        **{k: round(v, 4) for k, v in probs.items()},
    }
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".warmstart_", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / MARKER).write_text(json.dumps(info, indent=1))
        if out_dir.is_dir():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
    return str(out_dir), info
