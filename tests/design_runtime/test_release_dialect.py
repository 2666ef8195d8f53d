"""Designs as the released model writes them: `import os` / `import sys` / the release's
`utils.environments` bind sandbox-backed stand-ins, `sys.exit` ends cleanly, nothing new opens up."""

import asyncio
import json
import os
from types import SimpleNamespace

import pytest

from verl_metaagent.design import AgentCallReply, DesignLimits, DesignTask, execute_design, validate_design
from verl_metaagent.distill.records import split_designer_answer
from verl_metaagent.rollout.code_tests import api_test_runner_factory

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECORD = os.path.join(ROOT, "tests", "fixtures", "release_designer_record.json")
DIALECT = "import os\nimport sys\nfrom workflow import AgentNode, Workflow\n"


def release_design() -> str:
    with open(RECORD, encoding="utf-8") as f:
        record = json.load(f)
    return split_designer_answer(record["conversations"][-1]["value"])[1]


def caller_from(reply_for):
    seen = []

    async def caller(request):
        seen.append(request)
        text = reply_for(request)
        return AgentCallReply(text=text, prompt_ids=[1] * 4, response_ids=[2] * 4, logprobs=[-0.1] * 4)

    caller.seen = seen
    return caller


def run(code, caller, question="What is 4 * 6?", test_runner=None):
    return asyncio.run(execute_design(code, DesignTask(question), caller, DesignLimits(wall_seconds=30), test_runner))


def real_runner():
    """The rollout's run_code runner (programs run in their own sandbox)."""
    return api_test_runner_factory()(SimpleNamespace(extra_info={}))


def test_release_record_runs_its_python_tool_to_a_finished_answer():
    def reply(request):
        last = request.messages[-1]["content"]
        if request.agent == "Calculator":
            if "Tool python_execute output" in last:
                return "The product is \\boxed{24}."
            return "Let me compute.\n```python\nprint(4 * 6)\n```"
        return "Verdict: CORRECT. The answer is \\boxed{24}."

    caller = caller_from(reply)
    record = run(release_design(), caller, test_runner=real_runner())
    assert record.status == "finished", record.reason
    assert "\\boxed{24}" in record.final_answer
    tool_turn = caller.seen[1].messages[-1]["content"]
    assert "Code executed successfully.\nOutput: 24" in tool_turn  # the release's MathEnvironment string
    # ReflectionNode without critic_agent: the checker answers, then critiques its own answer
    assert [c.agent for c in record.calls] == ["Calculator", "Calculator", "Checker", "Checker"]


def test_math_environment_reports_errors_in_the_release_shape():
    code = DIALECT + (
        "from utils.environments.math_env import MathEnvironment, python_execute\n"
        "from verl_metaagent.design.api import finish\n"
        "env = MathEnvironment(timeout=5)\n"
        "finish(env.execute('import sys\\nsys.exit(3)') + '|' + python_execute('x = 1'))\n"
    )
    record = run(code, caller_from(lambda r: ""), test_runner=real_runner())
    assert record.status == "finished", record.reason
    failed, quiet = record.final_answer.split("|")
    assert failed.startswith("Error executing code (exit code 3):")
    assert quiet == "Code executed successfully. No output produced."


def test_sys_exit_after_the_answer_keeps_it():
    code = (DIALECT + "w = Workflow('w')\nw.add_node(AgentNode('solver', 'Solve.'))\nresult = w.run(question)\n"
            "sys.exit(1)\n")
    record = run(code, caller_from(lambda r: "\\boxed{24}"))
    assert (record.status, record.final_answer) == ("finished", "\\boxed{24}")


def test_sys_exit_before_an_answer_is_no_answer_and_says_so():
    code = DIALECT + (
        "w = Workflow('w')\n"
        "try:\n"
        "    w.add_node(AgentNode('solver', 'Solve.', max_turns='many'))\n"
        "    w.run(question)\n"
        "except Exception as e:\n"
        "    print(f'Error during workflow execution: {e}')\n"
        "    sys.exit(1)\n"
    )
    record = run(code, caller_from(lambda r: "\\boxed{24}"))
    assert record.status == "no_answer" and record.final_answer is None
    assert "sys.exit(1)" in record.reason and "Error during workflow execution" in record.reason


def test_os_and_sys_are_stand_ins_with_nothing_behind_them():
    code = DIALECT + (
        "import os.path\n"
        "from os.path import join\n"
        "from verl_metaagent.design.api import finish\n"
        "sys.path.insert(0, os.path.dirname(os.path.abspath('design.py')))\n"
        "seen = [os.getenv('PATH', 'none'), os.getenv('HOME'), len(os.environ), join('a', 'b'),\n"
        "        os.path.exists('/etc/passwd'), os.path.isfile('design.py'), sys.argv, sys.path, os.getcwd()]\n"
        "finish(repr(seen))\n"
    )
    record = run(code, caller_from(lambda r: ""))
    assert record.status == "finished", record.reason
    assert record.final_answer == repr(["none", None, 0, "a/b", False, False, ["design.py"], ["/design"], "/design"])


@pytest.mark.parametrize("line, missing", [("os.listdir('/')", "os.listdir"), ("sys.getrefcount(1)", "sys.getrefcount"),
                                           ("os.path.realpath('x')", "os.path.realpath")])
def test_anything_else_of_os_or_sys_is_an_error_naming_what_exists(line, missing):
    code = DIALECT + "from verl_metaagent.design.api import finish\n" + f"finish(str({line}))\n"
    assert validate_design(code) == []
    record = run(code, caller_from(lambda r: ""))
    assert record.status == "crash" and f"{missing} is not available to a design" in record.reason


def test_the_static_filter_stays_strict():
    api_design = "import os\nfrom verl_metaagent.design.api import finish\nfinish(os.getenv('X'))\n"
    assert "line 1: import of 'os' is not allowed" in validate_design(api_design)
    for bad in ("from workflow.release_imports import _design_builtins", "import subprocess",
                "from utils.helpers import x", "import utils.environments.math_env as m\nm.os", "os.system('id')"):
        assert validate_design(DIALECT + bad + "\nWorkflow('w').run(question)\n"), bad
