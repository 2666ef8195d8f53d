"""The CPU transformers backend matches a direct model.generate / teacher-forced forward pass."""

import asyncio
import os

import pytest
import torch

from verl_metaagent.backends.transformers_backend import TransformersBackend
from verl_metaagent.tiny_model import build_tiny_model


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    return TransformersBackend(tiny_model_dir, default_max_tokens=24)


def _prompt(tok, text="What is 3 + 4?"):
    out = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True)
    return list(out["input_ids"] if isinstance(out, dict) or hasattr(out, "keys") else out)


def _teacher_forced(model, prompt, response, temperature=1.0):
    ids = torch.tensor([prompt + response])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].float() / temperature
    lp = torch.log_softmax(logits, -1)
    n = len(prompt)
    return [float(lp[n - 1 + i, t]) for i, t in enumerate(response)]


def test_tiny_model_is_cached_and_loadable(tiny_model_dir, tiny_tokenizer):
    assert build_tiny_model(tiny_model_dir) == tiny_model_dir
    assert os.path.getsize(os.path.join(tiny_model_dir, "model.safetensors")) < 5_000_000
    assert tiny_tokenizer.eos_token == "<|im_end|>" and tiny_tokenizer.pad_token == "<|endoftext|>"
    text = tiny_tokenizer.apply_chat_template(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}], add_generation_prompt=True, tokenize=False)
    assert text == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
    assert tiny_tokenizer.decode(tiny_tokenizer.encode("héllo ∑ 42")) == "héllo ∑ 42"


async def test_greedy_matches_model_generate(backend, tiny_tokenizer):
    model = backend.generator.model
    prompt = _prompt(tiny_tokenizer)
    out = await backend.generate("r0", prompt_ids=prompt, sampling_params={"temperature": 0, "max_tokens": 16, "ignore_eos": True})
    ref = model.generate(torch.tensor([prompt]), max_new_tokens=16, do_sample=False, min_new_tokens=16)
    assert out.token_ids == ref[0, len(prompt):].tolist()
    assert len(out.token_ids) == 16 and out.extra_fields["finish_reason"] == "length"
    expected = _teacher_forced(model, prompt, out.token_ids)
    assert out.log_probs == pytest.approx(expected, abs=1e-4)


async def test_sampled_logprobs_match_forward_pass_with_temperature(backend, tiny_tokenizer):
    model = backend.generator.model
    prompt = _prompt(tiny_tokenizer, "Write a design.")
    sp = {"temperature": 0.7, "top_p": 0.9, "top_k": 50, "max_tokens": 12, "seed": 3, "logprobs": 0}
    a = await backend.generate("a", prompt_ids=prompt, sampling_params=sp)
    b = await backend.generate("b", prompt_ids=prompt, sampling_params=sp)
    assert a.token_ids == b.token_ids  # same seed -> same sample
    assert a.log_probs == pytest.approx(_teacher_forced(model, prompt, a.token_ids, 0.7), abs=1e-4)
    assert all(lp <= 0 for lp in a.log_probs)


async def test_concurrent_requests_equal_sequential(backend, tiny_tokenizer):
    prompts = [_prompt(tiny_tokenizer, f"q{i}") for i in range(3)]
    sp = {"temperature": 0, "max_tokens": 8}
    seq = [await backend.generate(str(i), prompt_ids=p, sampling_params=sp) for i, p in enumerate(prompts)]
    conc = await asyncio.gather(*(backend.generate(str(i), prompt_ids=p, sampling_params=sp) for i, p in enumerate(prompts)))
    assert [o.token_ids for o in conc] == [o.token_ids for o in seq]


async def test_weight_update_and_stop_tokens(tiny_model_dir, tiny_tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM

    other_dir = build_tiny_model(str(tmp_path / "other"), seed=1)
    other = AutoModelForCausalLM.from_pretrained(other_dir)
    b = TransformersBackend(tiny_model_dir)
    prompt = _prompt(tiny_tokenizer)
    sp = {"temperature": 0, "max_tokens": 10, "ignore_eos": True}
    before = await b.generate("x", prompt_ids=prompt, sampling_params=sp)
    loaded = b.load_weights(list(other.state_dict().items()))
    assert loaded >= len(list(other.parameters()))
    after = await b.generate("y", prompt_ids=prompt, sampling_params=sp)
    ref = other.generate(torch.tensor([prompt]), max_new_tokens=10, min_new_tokens=10, do_sample=False)
    assert after.token_ids == ref[0, len(prompt):].tolist()
    assert torch.equal(b.generator.model.model.layers[0].mlp.up_proj.weight, other.model.layers[0].mlp.up_proj.weight)
    assert after.log_probs != before.log_probs
    # a stop token ends the reply right after it is produced
    stop = after.token_ids[-1]
    cut = await b.generate("z", prompt_ids=prompt, sampling_params={**sp, "stop_token_ids": [stop]})
    assert cut.token_ids == after.token_ids[: after.token_ids.index(stop) + 1]
    assert cut.extra_fields["finish_reason"] == "stop"
    with pytest.raises(KeyError):
        b.load_weights({"no.such.weight": torch.zeros(1)})
