"""Engine contracts: every sampling key our rollout sends is a real SamplingParams field of the
vLLM / SGLang versions the extras pin (fixture read from their wheels by
scripts/engine_sampling_fields.py), and truncation is detected by token count."""

import importlib.util
import json
import os
from types import SimpleNamespace

import pytest

from verl_metaagent.clients.token_client import TokenPolicyClient
from verl_metaagent.rollout.config import SamplingConfig
from verl_metaagent.clients.engine_params import (
    OUR_KEYS,
    engine_of,
    engine_sampling_params,
    stop_reason_by_count,
    verl_server_engine_keys,
)
from verl_metaagent.rollout.tree_runner import _sampling_params

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "engine_sampling_fields.json")


def _load_script():
    spec = importlib.util.spec_from_file_location("engine_sampling_fields",
                                                  os.path.join(ROOT, "scripts", "engine_sampling_fields.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fields():
    with open(FIXTURE, encoding="utf-8") as f:
        return json.load(f)["engines"]


def full_request() -> dict:
    """A request with every key our rollout can send (all optional ones set)."""
    cfg = SamplingConfig(temperature=0.7, top_p=0.9, top_k=20, max_tokens=64, repetition_penalty=1.1,
                         stop=["</answer>"])
    return _sampling_params(cfg, default_max_tokens=128, seed=7, greedy=False, logprobs=True)


def test_full_request_uses_every_key_we_know():
    assert set(full_request()) == set(OUR_KEYS)


def test_fixture_matches_the_pinned_engine_versions(fields):
    pins = _load_script().pinned_versions()
    assert {e: fields[e]["version"] for e in ("vllm", "sglang")} == pins, (
        "a pin changed: run `python scripts/engine_sampling_fields.py` to regenerate the fixture"
    )


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_every_request_key_is_an_engine_field(engine, fields):
    request = engine_sampling_params(full_request(), engine)
    reaching = verl_server_engine_keys(request, engine)
    unknown = reaching - set(fields[engine]["fields"])
    assert not unknown, f"{engine} {fields[engine]['version']} has no SamplingParams field(s) {sorted(unknown)}"


def test_names_differ_where_the_engines_differ(fields):
    # the reason for the mapping: SGLang would raise TypeError on "seed"
    assert "seed" not in fields["sglang"]["fields"] and "sampling_seed" in fields["sglang"]["fields"]
    assert "seed" in fields["vllm"]["fields"]
    sglang = engine_sampling_params(full_request(), "sglang")
    assert sglang["sampling_seed"] == 7 and "seed" not in sglang
    assert engine_sampling_params(full_request(), "vllm") == full_request()
    for shared in ("top_k", "repetition_penalty", "stop", "temperature", "top_p"):
        assert shared in fields["vllm"]["fields"] and shared in fields["sglang"]["fields"]


def test_unset_optional_keys_are_not_sent():
    params = _sampling_params(SamplingConfig(), default_max_tokens=32, seed=1, greedy=False, logprobs=False)
    assert "repetition_penalty" not in params and "stop" not in params
    assert engine_sampling_params({"seed": 3, "stop": None}, "sglang") == {"sampling_seed": 3}


def test_sampling_fields_parser_reads_struct_and_init_fields():
    source = (
        "class SamplingParams(Base):\n"
        "    seed: int | None = None\n"
        "    _private: int = 0\n"
        "    def __init__(self, max_new_tokens=1, *, sampling_seed=None):\n"
        "        pass\n"
    )
    assert _load_script().sampling_fields(source) == ["max_new_tokens", "sampling_seed", "seed"]


def test_stop_reason_by_count():
    assert stop_reason_by_count(64, 64, "completed") == "length"
    assert stop_reason_by_count(63, 64, "completed") == "completed"
    assert stop_reason_by_count(64, 64, "completed", last_token=2, eos_ids={2}) == "completed"
    assert stop_reason_by_count(10, None, "stop") == "stop"


def test_engine_of_reads_verl_config():
    llm = SimpleNamespace(
        config=SimpleNamespace(actor_rollout_ref=SimpleNamespace(rollout=SimpleNamespace(name="sglang"))))
    assert engine_of(llm) == "sglang"
    assert engine_of(object()) is None


class _FakeServer:
    """verl's LLMServerClient call shape; answers with ``n`` token ids and a fixed stop reason."""

    def __init__(self, engine: str, n: int, stop_reason: str = "completed"):
        self.config = SimpleNamespace(actor_rollout_ref=SimpleNamespace(rollout=SimpleNamespace(name=engine)))
        self.n, self.stop_reason, self.requests = n, stop_reason, []

    async def generate(self, request_id, *, prompt_ids, sampling_params):
        self.requests.append(dict(sampling_params))
        return SimpleNamespace(token_ids=[5] * self.n, log_probs=[-0.1] * self.n, stop_reason=self.stop_reason,
                               extra_fields={})


async def test_token_client_sends_engine_names_and_flags_cut_answers(tiny_tokenizer):
    server = _FakeServer("sglang", n=64)
    client = TokenPolicyClient(server, tiny_tokenizer)
    out = await client.complete("r", [{"role": "user", "content": "hi"}], full_request())
    assert server.requests[0]["sampling_seed"] == 7 and "seed" not in server.requests[0]
    assert out.stop_reason == "length"  # 64 tokens of a 64-token budget, though the server said "completed"

    short = _FakeServer("vllm", n=10)
    out = await TokenPolicyClient(short, tiny_tokenizer).complete("r", [{"role": "user", "content": "hi"}],
                                                                  full_request())
    assert short.requests[0]["seed"] == 7 and out.stop_reason == "completed"
