"""Training rollouts on code tasks: a design's run_tests / run_code get answers in the design API's shape."""

import json

from verl_metaagent.clients import TokenPolicyClient
from verl_metaagent.rollout.config import RolloutTreeConfig
from verl_metaagent.rollout.grading import code_test_runner_factory, make_grader
from verl_metaagent.rollout.tree_runner import ProblemSpec, TreeRunner

BUGGY = "```python\na, b = map(int, input().split())\nprint(a - b)\n```"
FIXED = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
DESIGN = (
    "```python\nfrom verl_metaagent.design.api import *\n"
    "coder = Agent('Coder', 'Write a program.')\n"
    "code = extract_code(coder.ask())\n"
    "probe = run_code(code, '5 6\\n')\n"
    "report = run_tests(code)\n"
    "if not report.all_passed:\n"
    "    code = extract_code(coder.ask('Fix it. Output on 5 6 was ' + probe.stdout.strip() + '. '"
    " + report.summary()))\n"
    "finish(code)\n```"
)
TESTS = {"inputs": ["1 2\n", "3 4\n"], "outputs": ["3\n", "7\n"]}


async def test_code_design_runs_tests_and_is_rewarded(tiny_tokenizer):
    from verl_metaagent.backends import ScriptedBackend

    def respond(prompt: str) -> str:
        if "Design Multi Agent System" in prompt:
            return DESIGN
        return FIXED if "Fix it. Output on 5 6 was -1. Passed 0/2 tests." in prompt else BUGGY

    backend = ScriptedBackend(tiny_tokenizer, respond)
    cfg = RolloutTreeConfig(num_designs=1, num_executions=1, prompt_variant="short").validate()
    runner = TreeRunner(
        cfg, TokenPolicyClient(backend, tiny_tokenizer), make_grader(None),
        prompt_length=4096, response_length=512, test_runner_factory=code_test_runner_factory(),
    )
    problem = ProblemSpec(
        uid="c0", problem_index=0, question="Read a and b, print their sum.", task_type="code",
        data_source="code/apps", ground_truth=json.dumps(TESTS), extra_info={"public_tests": json.dumps(TESTS)},
    )
    tree = await runner.grow(problem)
    execution = tree.designs[0].executions[0]
    assert execution.status == "finished", execution.reason
    assert [c.agent for c in execution.calls] == ["Coder", "Coder"]
    assert execution.final_answer.strip().endswith("print(a + b)") and execution.reward == 1.0
    assert tree.designs[0].reward == 1.0
