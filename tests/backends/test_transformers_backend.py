"""TransformersBackend on the tiny model: greedy parity, logprob convention, seeds, budgets, concurrency."""

import asyncio

import pytest
import torch

from verl_metaagent.backends.transformers_backend import TransformersBackend, filter_logits

pytest.importorskip("verl")


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    return TransformersBackend(tiny_model_dir)


@pytest.fixture(scope="module")
def prompt_ids(tiny_tokenizer):
    msgs = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is 3 + 4?"}]
    return tiny_tokenizer.apply_chat_template(msgs, tokenize=True, add_generation_prompt=True,
                                              return_dict=False)


def run(coro):
    return asyncio.run(coro)


def gen(backend, prompt_ids, rid="r", **sp):
    return run(backend.generate(rid, prompt_ids=prompt_ids, sampling_params=sp))


def test_greedy_matches_hf_generate(backend, prompt_ids):
    out = gen(backend, prompt_ids, temperature=0, max_tokens=24)
    ids = torch.tensor([prompt_ids])
    ref = backend.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=24,
                                 eos_token_id=sorted(backend.eos_token_ids), pad_token_id=0)
    assert out.token_ids == ref[0, len(prompt_ids):].tolist()
    assert out.log_probs is None  # logprobs not requested
    assert len(out.token_ids) == 24 and out.stop_reason == "length"
    assert len(set(out.token_ids)) > 5  # the tiny model's greedy output is not degenerate


def test_logprobs_equal_teacher_forced_log_softmax(backend, prompt_ids):
    for sp in ({"temperature": 0}, {"temperature": 0.7, "top_k": 20, "top_p": 0.9, "seed": 3},
               {"temperature": 1.3, "seed": 4}):
        out = gen(backend, prompt_ids, max_tokens=16, logprobs=True, **sp)
        full = torch.tensor([prompt_ids + out.token_ids])
        with torch.no_grad():
            logits = backend.model(full).logits[0].float()
        n = len(prompt_ids)
        ref = torch.log_softmax(logits[n - 1:-1], dim=-1).gather(1, torch.tensor(out.token_ids)[:, None])[:, 0]
        assert len(out.log_probs) == len(out.token_ids) == 16
        assert torch.allclose(torch.tensor(out.log_probs), ref, atol=1e-4), sp


def test_seeds(backend, prompt_ids):
    a = gen(backend, prompt_ids, temperature=1.0, seed=7, max_tokens=20, logprobs=True)
    b = gen(backend, prompt_ids, temperature=1.0, seed=7, max_tokens=20, logprobs=True)
    c = gen(backend, prompt_ids, temperature=1.0, seed=8, max_tokens=20)
    assert a.token_ids == b.token_ids and a.log_probs == b.log_probs
    assert a.token_ids != c.token_ids


def test_max_tokens_and_alias(backend, prompt_ids):
    assert len(gen(backend, prompt_ids, temperature=0, max_tokens=5).token_ids) == 5
    assert len(gen(backend, prompt_ids, temperature=0, max_new_tokens=3).token_ids) == 3
    out = gen(backend, prompt_ids, temperature=0, max_tokens=0)
    assert out.token_ids == [] and out.stop_reason == "length"


def test_stops_at_eos_and_includes_it(tiny_model_dir, tiny_tokenizer, prompt_ids):
    be = TransformersBackend(tiny_model_dir)
    vocab = tiny_tokenizer.get_vocab()
    assert {vocab["<|im_end|>"], vocab["<|endoftext|>"]} <= be.eos_token_ids
    free = gen(be, prompt_ids, temperature=0, max_tokens=12, logprobs=True)
    stop_tok = free.token_ids[4]
    first = free.token_ids.index(stop_tok)
    assert first >= 2 and free.stop_reason == "length"
    be.eos_token_ids = frozenset({stop_tok})  # pretend that token is eos
    out = gen(be, prompt_ids, temperature=0, max_tokens=12, logprobs=True)
    assert out.token_ids == free.token_ids[: first + 1]
    assert out.log_probs == free.log_probs[: first + 1]
    assert out.stop_reason == "completed"


def test_concurrent_equals_sequential(backend, prompt_ids, tiny_tokenizer):
    other = tiny_tokenizer.encode("<|im_start|>user\ndef f(x):<|im_end|>\n<|im_start|>assistant\n")
    reqs = [(prompt_ids, {"temperature": 0, "max_tokens": 8, "logprobs": True}),
            (other, {"temperature": 1.0, "seed": 1, "max_tokens": 10, "logprobs": True}),
            (prompt_ids, {"temperature": 0.8, "top_k": 50, "seed": 2, "max_tokens": 6, "logprobs": True}),
            (other, {"temperature": 1.0, "top_p": 0.8, "seed": 3, "max_tokens": 9, "logprobs": True})]
    seq = [gen(backend, p, f"s{i}", **sp) for i, (p, sp) in enumerate(reqs)]

    async def together():
        return await asyncio.gather(*(backend.generate(f"c{i}", prompt_ids=p, sampling_params=sp)
                                      for i, (p, sp) in enumerate(reqs)))

    par = run(together())
    assert [o.token_ids for o in par] == [o.token_ids for o in seq]
    assert [o.log_probs for o in par] == [o.log_probs for o in seq]
    assert [len(o.token_ids) for o in par] == [8, 10, 6, 9]


def test_update_weights(tmp_path, tiny_model_dir, prompt_ids):
    from transformers import AutoModelForCausalLM

    from verl_metaagent.demo.tiny_model import build_tiny_model

    be = TransformersBackend(tiny_model_dir)
    other = AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp_path / "seed1", seed=1))
    before = gen(be, prompt_ids, temperature=0, max_tokens=10).token_ids
    sd = {f"module.{k}": v for k, v in other.state_dict().items()}
    assert be.update_weights(sd) >= len(dict(other.named_parameters()))
    after = gen(be, prompt_ids, temperature=0, max_tokens=10).token_ids
    ids = torch.tensor([prompt_ids])
    ref = other.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=10,
                         eos_token_id=sorted(be.eos_token_ids), pad_token_id=0)
    assert after == ref[0, len(prompt_ids):].tolist() and after != before
    with pytest.raises(KeyError):
        be.update_weights({"no.such.weight": torch.zeros(1)})


def test_filter_logits():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    assert torch.isinf(filter_logits(logits, 2, None)).tolist() == [False, False, True, True]
    assert torch.isinf(filter_logits(logits, None, 0.7)).tolist() == [False, False, True, True]
    assert torch.isinf(filter_logits(logits, None, 0.5)).tolist() == [False, True, True, True]
    assert torch.isinf(filter_logits(logits, None, 0.81)).tolist() == [False, False, False, True]


def test_event_loop_not_blocked_while_model_busy(backend, prompt_ids):
    """While the decode thread waits for the model (lock held here), the loop keeps running other tasks."""

    async def main():
        backend._lock.acquire()  # simulate a long-running generation holding the model
        try:
            task = asyncio.create_task(backend.generate("r", prompt_ids=prompt_ids,
                                                        sampling_params={"temperature": 0, "max_tokens": 4}))
            ticks = 0
            for _ in range(20):
                await asyncio.sleep(0)
                ticks += 1
            assert ticks == 20 and not task.done()
        finally:
            backend._lock.release()
        out = await task
        assert len(out.token_ids) == 4

    run(main())


def test_processed_logprobs_mode(tiny_model_dir, prompt_ids):
    """``logprobs_mode="processed"`` reports log_softmax(logits / T): verl's actor recomputation."""
    be = TransformersBackend(tiny_model_dir, logprobs_mode="processed")
    raw = TransformersBackend(tiny_model_dir)
    sp = {"temperature": 0.6, "top_k": 30, "seed": 5, "max_tokens": 12, "logprobs": True}
    out = gen(be, prompt_ids, **sp)
    out_raw = gen(raw, prompt_ids, **sp)
    assert out.token_ids == out_raw.token_ids  # the mode changes only the reported values
    full = torch.tensor([prompt_ids + out.token_ids])
    with torch.no_grad():
        logits = be.model(full).logits[0].float()[len(prompt_ids) - 1:-1] / 0.6
    ref = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(out.token_ids)[:, None])[:, 0]
    assert torch.allclose(torch.tensor(out.log_probs), ref, atol=1e-4)
    assert not torch.allclose(torch.tensor(out_raw.log_probs), ref, atol=1e-2)
    greedy = {"temperature": 0, "max_tokens": 6, "logprobs": True}
    assert gen(be, prompt_ids, **greedy).log_probs == gen(raw, prompt_ids, **greedy).log_probs
    with pytest.raises(ValueError):
        TransformersBackend(tiny_model_dir, logprobs_mode="bogus")
