"""ScriptedBackend: list / dict / callable scripts, real tokenisation, error injection, recording."""

import asyncio

import pytest

from verl_metaagent.backends.scripted import FAKE_LOGPROB, NoScriptedMatch, ScriptedBackend, ScriptExhausted

pytest.importorskip("verl")


def ask(backend, tok, text, rid="r", **sp):
    ids = tok.encode(text, add_special_tokens=False)
    return asyncio.run(backend.generate(rid, prompt_ids=ids, sampling_params=sp))


def test_list_in_order_real_tokens_and_eos(tiny_tokenizer):
    tok = tiny_tokenizer
    be = ScriptedBackend(tok, ["first answer", "def f(x):\n    return 2 * x\n"])
    a = ask(be, tok, "q1")
    b = ask(be, tok, "q2")
    assert a.token_ids == tok.encode("first answer", add_special_tokens=False) + [tok.eos_token_id]
    assert b.token_ids[-1] == tok.eos_token_id
    assert tok.decode(b.token_ids[:-1]) == "def f(x):\n    return 2 * x\n"
    assert a.log_probs == [FAKE_LOGPROB] * len(a.token_ids) and FAKE_LOGPROB == -0.1
    assert a.stop_reason == b.stop_reason == "completed"
    with pytest.raises(ScriptExhausted):
        ask(be, tok, "q3")


def test_list_cycle(tiny_tokenizer):
    be = ScriptedBackend(tiny_tokenizer, ["a", "b"], cycle=True)
    texts = [tiny_tokenizer.decode(ask(be, tiny_tokenizer, "q").token_ids, skip_special_tokens=True)
             for _ in range(5)]
    assert texts == ["a", "b", "a", "b", "a"]


def test_dict_first_match_and_default(tiny_tokenizer):
    tok = tiny_tokenizer
    script = {"designer": "D", "user": "U"}
    be = ScriptedBackend(tok, script)
    prompt = "<|im_start|>user\nyou are the designer<|im_end|>\n"
    assert tok.decode(ask(be, tok, prompt).token_ids) == "D<|im_end|>"  # first key in dict order wins
    assert tok.decode(ask(be, tok, "<|im_start|>user\nhi").token_ids) == "U<|im_end|>"
    with pytest.raises(NoScriptedMatch):
        ask(be, tok, "nothing matches")
    be2 = ScriptedBackend(tok, script, default="fallback")
    assert tok.decode(ask(be2, tok, "nothing matches").token_ids, skip_special_tokens=True) == "fallback"


def test_callable_sees_decoded_prompt(tiny_tokenizer):
    tok = tiny_tokenizer
    seen = []

    def reply(prompt_text):
        seen.append(prompt_text)
        return prompt_text.upper()[-5:]

    be = ScriptedBackend(tok, reply)
    out = ask(be, tok, "<|im_start|>user\nhello<|im_end|>")
    assert seen == ["<|im_start|>user\nhello<|im_end|>"]
    assert tok.decode(out.token_ids[:-1]) == "<|im_start|>user\nhello<|im_end|>".upper()[-5:]


def test_error_injection_and_recording(tiny_tokenizer):
    tok = tiny_tokenizer
    seen = []

    def errors(prompt_text, index):
        seen.append((prompt_text, index))
        return ConnectionError(f"boom {index}") if index == 1 or "fail" in prompt_text else None

    be = ScriptedBackend(tok, ["x", "y", "z"], errors=errors)
    assert tok.decode(ask(be, tok, "p0", "r0", temperature=0.5).token_ids[:-1]) == "x"
    with pytest.raises(ConnectionError, match="boom 1"):
        ask(be, tok, "p1", "r1")
    assert tok.decode(ask(be, tok, "p2", "r2").token_ids[:-1]) == "y"  # failed call consumed no reply
    with pytest.raises(ConnectionError, match="boom 3"):
        ask(be, tok, "please fail", "r3")
    assert seen == [("p0", 0), ("p1", 1), ("p2", 2), ("please fail", 3)]
    assert be.calls == [("r0", "p0", {"temperature": 0.5}), ("r1", "p1", {}), ("r2", "p2", {}),
                        ("r3", "please fail", {})]
    assert be.replies == ["x", None, "y", None]


def test_max_tokens_truncates(tiny_tokenizer):
    tok = tiny_tokenizer
    be = ScriptedBackend(tok, ["one two three four five six"], cycle=True)
    full = ask(be, tok, "q")
    cut = ask(be, tok, "q", max_tokens=3)
    assert cut.token_ids == full.token_ids[:3] and cut.stop_reason == "length"
    assert len(cut.log_probs) == 3


def test_concurrent_with_latency_records_all(tiny_tokenizer):
    tok = tiny_tokenizer
    be = ScriptedBackend(tok, lambda p: "echo " + p, latency=0.01)

    async def main():
        return await asyncio.gather(*(be.generate(f"r{i}", prompt_ids=tok.encode(f"q{i}"), sampling_params={})
                                      for i in range(4)))

    outs = asyncio.run(main())
    assert [tok.decode(o.token_ids[:-1]) for o in outs] == [f"echo q{i}" for i in range(4)]
    assert sorted(c[0] for c in be.calls) == ["r0", "r1", "r2", "r3"]


def test_bad_script_types(tiny_tokenizer):
    with pytest.raises(TypeError):
        ScriptedBackend(tiny_tokenizer, "just a string")
    with pytest.raises(ValueError):
        ScriptedBackend(tiny_tokenizer, [])
