"""Design-then-execute through an OpenAI-compatible endpoint (loopback server) and the token client."""


from verl_metaagent.clients import OpenAIChatClient, TokenPolicyClient
from verl_metaagent.solve import solve_async, solve_config
from verl_metaagent.testing.openai_server import FakeOpenAIServer

VOTE_DESIGN = """<think>math; three solvers and a vote</think><code>
```python
from verl_metaagent.design.api import *
answers = [Agent(f"S{i}", "Solve. Put the answer in \\\\boxed{}.").ask() for i in range(3)]
finish(majority_vote([extract_answer(a) for a in answers]))
```
</code>"""


def responder(body):
    system = body["messages"][0]["content"]
    if "design" in system.lower() and body["messages"][0]["role"] == "system" and "S0" not in system:
        return VOTE_DESIGN
    return {"S0": "\\boxed{42}", "S1": "\\boxed{41}", "S2": "\\boxed{42}"}.get(body["messages"][-1].get("name", ""),
                                                                               "\\boxed{42}")


async def test_solve_designs_executes_and_grades_through_endpoint():
    with FakeOpenAIServer(responder) as server:
        client = OpenAIChatClient(server.base_url, "fake", api_key_env=None)
        result = await solve_async("What is 6 * 7?", client, data_source="math/demo", ground_truth="42")
        await client.aclose()
    assert result.design.valid, result.design.invalid_reason
    assert result.design.pattern == "ensemble"
    assert result.answer == "42" and result.reward == 1.0
    execution = result.design.executions[0]
    assert execution.status == "finished" and [c.agent for c in execution.calls] == ["S0", "S1", "S2"]
    assert result.llm_calls == 4 == len(server.requests)
    assert result.tokens == client.usage.as_dict()["total_tokens"] > 0


async def test_fixed_design_skips_the_designer(tiny_tokenizer):
    from verl_metaagent.backends import ScriptedBackend
    from verl_metaagent.design.reference import load_reference

    backend = ScriptedBackend(tiny_tokenizer, lambda prompt: "so \\boxed{7}")
    client = TokenPolicyClient(backend, tiny_tokenizer)
    cfg = solve_config(num_executions=2, select="majority")
    result = await solve_async("3+4?", client, design=load_reference("single_agent"), ground_truth="7",
                               data_source="math/x", config=cfg)
    assert result.design.messages is None and result.design.prompt_ids == []
    assert [e.final_answer for e in result.design.executions] == ["7", "7"]
    assert result.reward == 1.0 and result.llm_calls == 2
    # token client: every executor call carries real ids that decode to the scripted text
    call = result.design.executions[0].calls[0]
    assert tiny_tokenizer.decode(call.response_ids, skip_special_tokens=True) == "so \\boxed{7}"


async def test_invalid_design_from_endpoint_is_reported_not_executed():
    with FakeOpenAIServer(lambda body: "import os\nos.system('x')\nfinish('1')") as server:
        client = OpenAIChatClient(server.base_url, "fake", api_key_env=None)
        result = await solve_async("q", client)
        await client.aclose()
    assert not result.design.valid and "os" in result.design.invalid_reason
    assert result.design.executions == [] and result.answer is None and len(server.requests) == 1


async def test_token_budget_counts_endpoint_usage():
    from verl_metaagent.rollout.config import BudgetConfig

    design = ("from verl_metaagent.design.api import *\na = Agent('A', 'x')\nfor _ in range(5):\n    a.ask('go on')\n"
              "finish('done')\n")
    with FakeOpenAIServer(lambda body: "word " * 40) as server:
        client = OpenAIChatClient(server.base_url, "fake", api_key_env=None)
        cfg = solve_config(budget=BudgetConfig(max_total_tokens=100))
        result = await solve_async("q", client, design=design, config=cfg)
        await client.aclose()
    execution = result.design.executions[0]
    # by the endpoint's usage: call 1 = 4 prompt + 40 completion words; call 2 adds its history
    # (4 + 40 + 2 prompt) + 40 -> 130 > 100, so the second call ends the execution
    assert execution.status == "budget_exceeded" and len(server.requests) == 2
    assert "100 tokens" in execution.reason


async def test_each_role_keeps_its_own_sampling():
    from verl_metaagent.rollout.config import SamplingConfig

    with FakeOpenAIServer(responder) as server:
        client = OpenAIChatClient(server.base_url, "fake", api_key_env=None)
        cfg = solve_config(designer_sampling=SamplingConfig(temperature=0.9, top_p=0.8),
                           executor_sampling=SamplingConfig(temperature=0.3))
        await solve_async("What is 6 * 7?", client, config=cfg)
        await client.aclose()
    designer, *executors = server.requests
    assert (designer["temperature"], designer["top_p"]) == (0.9, 0.8)
    assert {(r["temperature"], r["top_p"]) for r in executors} == {(0.3, 1.0)}
