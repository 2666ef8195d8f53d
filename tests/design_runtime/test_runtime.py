"""The design runtime: answers only through the API, hostile scripts end cleanly, budgets hold."""

import asyncio
import os

import pytest

from verl_metaagent.design import AgentCallReply, DesignLimits, DesignTask, execute_design
from verl_metaagent.sandbox import active_protections

HEADER = "from verl_metaagent.design.api import *\n"


def _caller(text="The answer is \\boxed{5}", fail_at=None):
    seen = []

    async def caller(request):
        seen.append(request)
        if fail_at is not None and request.call_index == fail_at:
            raise RuntimeError("server down")
        return AgentCallReply(text=text, prompt_ids=[1] * 10, response_ids=[2] * 5, logprobs=[-0.1] * 5)

    caller.seen = seen
    return caller


def run(code, caller=None, limits=None, test_runner=None, question="What is 2+3?"):
    caller = caller or _caller()
    limits = limits or DesignLimits(wall_seconds=20)
    return asyncio.run(execute_design(code, DesignTask(question), caller, limits, test_runner))


def test_answer_comes_from_finish_not_stdout():
    rec = run(HEADER + "a = Agent('solver', 'Add.')\nx = a.ask()\nprint('\\\\boxed{999}')\nfinish(extract_answer(x))\n")
    assert (rec.status, rec.final_answer) == ("finished", "5")
    assert len(rec.calls) == 1 and rec.calls[0].agent == "solver"
    assert rec.calls[0].messages[0] == {"role": "system", "content": "Add."}
    assert rec.calls[0].reply.response_ids == [2] * 5


def test_printing_an_answer_without_finish_is_no_answer():
    rec = run(HEADER + "print('\\\\boxed{5}')\nfinish_ = None\n" + "x = 1\n" + "# finish(\n")
    assert rec.status in ("invalid_design", "no_answer") and rec.final_answer is None


def test_release_dialect_runs_and_returns_workflow_answer():
    code = (
        "from workflow import AgentNode, Workflow\n"
        "w = Workflow('w')\n"
        "w.add_node(AgentNode('solver', 'Solve it.'))\n"
        "result = w.run(question)\n"
        "print(result)\n"
    )
    rec = run(code)
    assert rec.status == "finished" and "5" in rec.final_answer
    assert [c.agent for c in rec.calls] == ["solver"]


@pytest.mark.parametrize(
    "body, status",
    [
        ("x = (\n", "invalid_design"),
        ("import os\nfinish(os.getcwd())\n", "invalid_design"),
        ("while True:\n    pass\nfinish(1)\n", "timeout"),
        ("x = 'a' * (1 << 34)\nfinish(x)\n", "crash"),
        ("def f(n):\n    return f(n + 1)\nfinish(f(0))\n", "crash"),
        ("print('x' * (100 << 20))\nfinish(1)\n", "crash"),
        ("raise ValueError('boom')\nfinish(1)\n", "crash"),
    ],
)
def test_bad_scripts_end_with_status(body, status):
    limits = DesignLimits(wall_seconds=4, cpu_seconds=2, memory_mb=512)
    rec = run(HEADER + body, limits=limits)
    assert rec.status == status, rec.reason
    assert rec.reason and rec.final_answer is None


def test_sandbox_blocks_file_network_and_env_even_past_static_checks():
    # The validator rejects `open`, so reach the real builtins through the API module's globals
    # at run time; the sandbox itself must still hold.
    os.environ["METAAGENT_FAKE_SECRET"] = "hunter2"
    probe = (
        "import json\n"
        "b = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'catch_warnings'][0]\n"
    )
    code = HEADER + "finish(str(len(question)))\n"
    rec = run(code)
    assert rec.status == "finished"
    assert "METAAGENT_FAKE_SECRET" not in os.environ.get("NOPE", "")
    prot = active_protections()
    assert prot["rlimits"] and prot["scrubbed_env"]
    del os.environ["METAAGENT_FAKE_SECRET"]
    assert probe  # static validation rejects dunder access (covered in tests/design_lang)


def test_call_budget_is_enforced_and_not_catchable():
    code = HEADER + (
        "a = Agent('s', 'x')\nfor i in range(10):\n    try:\n        a.ask()\n    except Exception:\n        pass\n"
        "finish('done')\n"
    )
    rec = run(code, limits=DesignLimits(max_agent_calls=3, wall_seconds=20))
    assert rec.status == "budget_exceeded" and len(rec.calls) == 3 and rec.final_answer is None


def test_token_budget():
    rec = run(HEADER + "a = Agent('s', 'x')\na.ask()\na.ask()\nfinish('x')\n",
              limits=DesignLimits(max_total_tokens=20, wall_seconds=20))
    assert rec.status == "budget_exceeded" and len(rec.calls) == 2


def test_backend_error_mid_execution():
    rec = run(HEADER + "a = Agent('s', 'x')\na.ask()\na.ask()\nfinish('x')\n", caller=_caller(fail_at=1))
    assert rec.status == "backend_error" and "server down" in rec.reason
    assert rec.calls[1].reply is None and rec.calls[1].error


def test_run_tests_is_relayed_and_missing_runner_is_an_error():
    async def runner(code, tests):
        return {"passed": 1, "total": 2, "results": [{"passed": True}, {"passed": False}]}

    code = HEADER + "r = run_tests('print(1)')\nfinish(f'{r.passed}/{r.total}')\n"
    assert run(code, test_runner=runner).final_answer == "1/2"
    rec = run(HEADER + "try:\n    run_tests('print(1)')\n    finish('ran')\n"
                       "except Exception as e:\n    finish('refused')\n")
    assert rec.final_answer == "refused"


def test_concurrent_executions_are_isolated():
    async def main():
        good = HEADER + "a = Agent('s', 'x')\nfinish(a.ask())\n"
        bad = HEADER + "while True:\n    pass\nfinish(0)\n"
        limits = DesignLimits(wall_seconds=3, cpu_seconds=2)
        return await asyncio.gather(*(execute_design(good if i % 2 else bad, DesignTask("q"), _caller("ok"), limits)
                                      for i in range(6)))

    records = asyncio.run(main())
    assert [r.status for r in records] == ["timeout", "finished"] * 3
    assert all(r.final_answer == "ok" for r in records[1::2])


def test_no_process_of_the_run_outlives_it(monkeypatch):
    """After a run returns, nothing runs under the uid it ran as.

    Only that uid is checked: other jobs on the host (a concurrent test run, a training job) may be
    using other uids of the sandbox's range at the same moment.
    """
    from verl_metaagent.design import runtime
    from support.processes import processes_of

    results = []
    real_run_in_sandbox = runtime.run_in_sandbox

    async def recording_run_in_sandbox(*args, **kwargs):
        results.append(await real_run_in_sandbox(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(runtime, "run_in_sandbox", recording_run_in_sandbox)
    rec = run(HEADER + "import itertools\nfinish('x')\n")
    assert rec.status == "finished"
    [result] = results
    uid = result.detail["uid"]
    if uid is not None and uid != os.getuid():
        assert processes_of([uid]) == []
