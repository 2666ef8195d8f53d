"""Dataset rows -> ProblemSpec: what a design sees of the task."""

import pytest

from verl_metaagent.rollout.problems import problem_from_fields, question_from_row

CODE_PROMPT = (
    "Double every element.\n\nComplete the following starter code:\n```python\nclass Solution:\n"
    "    def double(self, xs):\n```"
    "\n\nYour code is tested by calling `double` (a method of `class Solution`) directly; do not read stdin."
)


def test_code_problem_sees_starter_code_and_io_contract():
    fields = {
        "raw_prompt": [{"role": "user", "content": CODE_PROMPT}],
        "data_source": "code/livecodebench",
        "ability": "code",
        "reward_model": {"ground_truth": "{}"},
        "extra_info": {"question": "Double every element.", "task_type": "code", "starter_code": "class Solution: ..."},
    }
    problem = problem_from_fields(fields, uid="u", problem_index=0)
    assert problem.task_type == "code" and problem.question == CODE_PROMPT


def test_math_problem_keeps_the_stored_question():
    fields = {
        "raw_prompt": [{"role": "user", "content": "Solve and box: 1+1"}],
        "data_source": "math/aime24",
        "extra_info": {"question": "1+1"},
        "reward_model": {"ground_truth": "2"},
    }
    assert problem_from_fields(fields, uid="u", problem_index=0).question == "1+1"


def test_fallbacks_and_missing_text():
    assert question_from_row([{"role": "user", "content": "q"}], {}) == "q"
    assert question_from_row(None, {"question": "stored"}, prefer_prompt=True) == "stored"
    with pytest.raises(ValueError, match="no user message"):
        question_from_row([{"role": "system", "content": "s"}], {})
