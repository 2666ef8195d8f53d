"""The rollout-aligned SFT dataset vs. verl's MultiTurnSFTDataset, on the tiny tokenizer and a Qwen3-style template."""

from __future__ import annotations

import copy

import pytest
import torch

from verl_metaagent.distill.export import write_sft_parquet
from verl_metaagent.distill.records import SFTSample, format_designer_answer

pytest.importorskip("verl")

from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset  # noqa: E402

from verl_metaagent.distill.sft_dataset import InferenceAlignedSFTDataset, aligned_token_ids  # noqa: E402

DESIGN = ("from verl_metaagent.design.api import *\nsolver = Agent('Solver', 'Solve.')\n"
          "finish(extract_answer(solver.ask()))\n")

# A reduced Qwen3-style template (written for this test): the reply after the last user turn gets a
# <think> block (empty if none), a <think>...</think> in a reply is moved into it, earlier replies
# lose it, and the generation prompt opens an empty think block when enable_thinking is false.
QWEN3_LIKE = (
    "{%- set ns = namespace(found=false, last_query_index=messages|length - 1) -%}"
    "{%- for m in messages[::-1] -%}"
    "{%- if not ns.found and m.role == 'user' -%}{%- set ns.found = true -%}"
    "{%- set ns.last_query_index = (messages|length - 1) - loop.index0 -%}{%- endif -%}"
    "{%- endfor -%}"
    "{%- for m in messages -%}"
    "{%- if m.role == 'assistant' -%}"
    "{%- set content = m.content -%}{%- set reasoning = '' -%}"
    "{%- if '</think>' in content -%}"
    "{%- set reasoning = content.split('</think>')[0].split('<think>')[-1].strip('\\n') -%}"
    "{%- set content = content.split('</think>')[-1].lstrip('\\n') -%}"
    "{%- endif -%}"
    "{%- if loop.index0 > ns.last_query_index and (loop.last or reasoning) -%}"
    "{{- '<|im_start|>assistant\\n<think>\\n' + reasoning + '\\n</think>\\n\\n' + content + '<|im_end|>\\n' -}}"
    "{%- else -%}{{- '<|im_start|>assistant\\n' + content + '<|im_end|>\\n' -}}{%- endif -%}"
    "{%- else -%}{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}{{- '<think>\\n\\n</think>\\n\\n' -}}"
    "{%- endif -%}{%- endif -%}"
)

DESIGNER = SFTSample(id="designer_1", role="designer", messages=[
    {"role": "user", "content": "Design Multi Agent System for the Question: What is 2 + 3?"},
    {"role": "assistant", "content": format_designer_answer("math; one solver", DESIGN)},
])
EXECUTOR = SFTSample(id="executor_1", role="executor", messages=[
    {"role": "system", "content": "Solve it."},
    {"role": "user", "content": "What is 2 + 3?"},
    {"role": "assistant", "content": "2 + 3 = 5. \\boxed{5}"},
    {"role": "user", "content": "Check it."},
    {"role": "assistant", "content": "Checked: \\boxed{5}"},
])


def _config(**kw):
    cfg = {"messages_key": "messages", "max_length": 1024, "truncation": "error", "pad_mode": "no_padding",
           "apply_chat_template_kwargs": {}}
    cfg.update(kw)
    return cfg


@pytest.fixture
def parquet(tmp_path):
    path = str(tmp_path / "sft.parquet")
    write_sft_parquet([DESIGNER, EXECUTOR], path)
    return path


def _render(tok, messages, **kw):
    out = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, **kw)
    out = out["input_ids"] if hasattr(out, "keys") else out
    return list(out[0] if out and isinstance(out[0], list) else out)


def test_plain_template_matches_verl_dataset(tiny_tokenizer, parquet):
    stock = MultiTurnSFTDataset(parquet, tiny_tokenizer, _config())
    ours = InferenceAlignedSFTDataset(parquet, tiny_tokenizer, _config())
    sep = tiny_tokenizer.encode("\n", add_special_tokens=False)
    assert len(ours) == 2
    for i in range(2):
        a, b = stock[i], ours[i]
        assert torch.equal(a["input_ids"], b["input_ids"])
        # identical except that verl also trains the "\n" after each <|im_end|>; we mask the separator
        ids, eos = b["input_ids"].tolist(), tiny_tokenizer.eos_token_id
        expected = [0 if j > 0 and ids[j - 1] == eos and ids[j] == sep[0] else m
                    for j, m in enumerate(a["loss_mask"].tolist())]
        assert b["loss_mask"].tolist() == expected
        turns = sum(1 for m in (DESIGNER, EXECUTOR)[i].messages if m["role"] == "assistant")
        assert int(a["loss_mask"].sum()) - int(b["loss_mask"].sum()) == turns
    # trained text of the designer sample: the whole answer + <|im_end|>
    x = ours[0]
    trained = [t for t, m in zip(x["input_ids"].tolist(), x["loss_mask"].tolist()) if m]
    assert tiny_tokenizer.decode(trained) == DESIGNER.messages[1]["content"] + "<|im_end|>"


def test_qwen3_style_template_trains_what_inference_sees(tiny_tokenizer, parquet):
    tok = copy.deepcopy(tiny_tokenizer)
    tok.chat_template = QWEN3_LIKE
    kwargs = {"enable_thinking": False}
    with pytest.raises(AssertionError, match="apply_chat_template to each turn separately"):
        MultiTurnSFTDataset(parquet, tok, _config(apply_chat_template_kwargs=kwargs))[0]
    ours = InferenceAlignedSFTDataset(parquet, tok, _config(apply_chat_template_kwargs=kwargs))
    eos, sep = tok.eos_token_id, tok.encode("\n", add_special_tokens=False)

    # designer: prompt as the RL run renders it (empty think block opened), then the whole answer, <think> included
    x = ours[0]
    prompt = _render(tok, DESIGNER.messages[:1], **kwargs)
    answer = tok.encode(DESIGNER.messages[1]["content"], add_special_tokens=False)
    assert x["input_ids"].tolist() == prompt + answer + [eos] + sep
    assert x["loss_mask"].tolist() == [0] * len(prompt) + [1] * (len(answer) + 1) + [0] * len(sep)
    assert tok.decode(prompt).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert tok.decode(answer).startswith("<think>\nmath; one solver\n</think>\n<code>")

    # executor, two turns: the token continuation of a multi-turn rollout; both replies trained
    y = ours[1]
    p1 = _render(tok, EXECUTOR.messages[:2], **kwargs)
    r1 = tok.encode(EXECUTOR.messages[2]["content"], add_special_tokens=False) + [eos]
    p2 = _render(tok, EXECUTOR.messages[3:4], **kwargs)
    r2 = tok.encode(EXECUTOR.messages[4]["content"], add_special_tokens=False) + [eos]
    assert y["input_ids"].tolist() == p1 + r1 + sep + p2 + r2 + sep
    assert y["loss_mask"].tolist() == ([0] * len(p1) + [1] * len(r1) + [0] * (len(sep) + len(p2)) + [1] * len(r2)
                                       + [0] * len(sep))


def test_right_padding_and_truncation(tiny_tokenizer, parquet):
    padded = InferenceAlignedSFTDataset(parquet, tiny_tokenizer, _config(pad_mode="right", max_length=512))[1]
    n = int(padded["attention_mask"].sum())
    assert padded["input_ids"].shape == (512,) and padded["input_ids"][n:].eq(tiny_tokenizer.pad_token_id).all()
    assert padded["loss_mask"][n:].eq(0).all()
    with pytest.raises(ValueError, match="data.max_length=8"):
        InferenceAlignedSFTDataset(parquet, tiny_tokenizer, _config(max_length=8))[0]
    cut = InferenceAlignedSFTDataset(parquet, tiny_tokenizer, _config(max_length=8, truncation="right"))[0]
    assert cut["input_ids"].shape == (8,)


def test_aligned_ids_two_replies_in_a_row(tiny_tokenizer):
    msgs = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
            {"role": "assistant", "content": "b"}]
    ids, mask = aligned_token_ids(tiny_tokenizer, msgs)
    assert tiny_tokenizer.decode(ids) == ("<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\na<|im_end|>\n"
                                          "<|im_start|>assistant\nb<|im_end|>\n")
    assert tiny_tokenizer.decode([t for t, m in zip(ids, mask) if m]) == "a<|im_end|>b<|im_end|>"
