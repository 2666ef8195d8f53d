"""Scripted backend: real tokenisation, deterministic fake logprobs, error injection."""

import asyncio

import pytest

from verl_metaagent.backends.scripted import BackendError, ScriptedBackend, fake_logprob


def _ids(tok, text):
    return tok.encode(text, add_special_tokens=False)


async def test_list_responses_in_order_and_tokenised(tiny_tokenizer):
    b = ScriptedBackend(tiny_tokenizer, ["first", "second"])
    p = _ids(tiny_tokenizer, "hello")
    outs = [await b.generate(str(i), prompt_ids=p, sampling_params={}) for i in range(3)]
    texts = [tiny_tokenizer.decode(o.token_ids, skip_special_tokens=True) for o in outs]
    assert texts == ["first", "second", "second"]
    assert outs[0].token_ids[-1] == tiny_tokenizer.eos_token_id
    assert outs[0].log_probs == [fake_logprob(t, i) for i, t in enumerate(outs[0].token_ids)]
    cyc = ScriptedBackend(tiny_tokenizer, ["a", "b"], cycle=True, append_eos=False)
    got = [tiny_tokenizer.decode((await cyc.generate("r", prompt_ids=p)).token_ids) for _ in range(3)]
    assert got == ["a", "b", "a"]


async def test_dict_and_callable_are_deterministic(tiny_tokenizer):
    script = {"designer": "def main(): pass", "solve": "The answer is 7"}
    runs = []
    for _ in range(2):
        b = ScriptedBackend(tiny_tokenizer, script, default="?")
        o1 = await b.generate("1", prompt_ids=_ids(tiny_tokenizer, "you are the designer"))
        o2 = await b.generate("2", prompt_ids=_ids(tiny_tokenizer, "please solve 3+4"))
        o3 = await b.generate("3", prompt_ids=_ids(tiny_tokenizer, "nothing"))
        runs.append([(o.token_ids, o.log_probs) for o in (o1, o2, o3)])
        assert [c.response_text for c in b.calls] == ["def main(): pass", "The answer is 7", "?"]
    assert runs[0] == runs[1]
    echo = ScriptedBackend(tiny_tokenizer, lambda s: s.upper(), append_eos=False)
    out = await echo.generate("e", prompt_ids=_ids(tiny_tokenizer, "abc"))
    assert tiny_tokenizer.decode(out.token_ids) == "ABC"
    with pytest.raises(BackendError):
        await ScriptedBackend(tiny_tokenizer, {"x": "y"}).generate("n", prompt_ids=_ids(tiny_tokenizer, "zzz"))


async def test_error_injection_and_truncation(tiny_tokenizer):
    b = ScriptedBackend(tiny_tokenizer, ["ok"], errors={1}, latency=0.01)
    p = _ids(tiny_tokenizer, "q")
    assert (await b.generate("0", prompt_ids=p)).token_ids
    with pytest.raises(BackendError, match="call 1"):
        await b.generate("1", prompt_ids=p)
    assert (await b.generate("2", prompt_ids=p)).token_ids
    assert [c.response_text for c in b.calls] == ["ok", None, "ok"]
    by_prompt = ScriptedBackend(tiny_tokenizer, ["fine"], errors=lambda i, text: "boom" in text)
    res = await asyncio.gather(by_prompt.generate("a", prompt_ids=_ids(tiny_tokenizer, "boom")),
                               by_prompt.generate("b", prompt_ids=p), return_exceptions=True)
    assert isinstance(res[0], BackendError) and not isinstance(res[1], Exception)
    long = ScriptedBackend(tiny_tokenizer, ["a long long long reply"])
    out = await long.generate("t", prompt_ids=p, sampling_params={"max_tokens": 2})
    assert len(out.token_ids) == 2 and out.extra_fields["finish_reason"] == "length"
