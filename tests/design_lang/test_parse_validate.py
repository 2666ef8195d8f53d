"""parse_design and validate_design: shapes accepted, block choice, precise rejections."""

from __future__ import annotations

import pytest

from verl_metaagent.design.parse import parse_design
from verl_metaagent.design.validate import MAX_DESIGN_CHARS, validate_design

DESIGN = "from verl_metaagent.design.api import *\nfinish(Agent('A', 's').ask())\n"


def test_release_format_think_code_fence():
    text = ("<think>Problem type: math. Use one agent.\n```python\ndraft()\n```</think>\n<code>\n```python\n"
            + DESIGN + "```\n</code>")
    assert parse_design(text).code == DESIGN


def test_code_tag_without_fence():
    assert parse_design("intro <code>\n" + DESIGN + "</code> bye").code == DESIGN


def test_several_code_tags_prefers_last_design():
    text = ("<code>```python\nprint('example')\n```</code> now mine: <code>```python\n"
            + DESIGN + "```</code> <code>\n</code>")
    assert parse_design(text).code == DESIGN


def test_fenced_block_picks_design_over_helper():
    text = ("Helper:\n```python\ndef f(x):\n    return x\n```\nDesign:\n```python\n"
            + DESIGN + "```\nNote:\n```python\nx = 1\n```")
    assert parse_design(text).code == DESIGN


def test_fenced_without_design_takes_longest():
    text = "```python\na = 1\n```\n```py\nb = 2\nc = 3\n```"
    assert parse_design(text).code == "b = 2\nc = 3\n"


def test_unclosed_fence_and_unclosed_code_tag():
    assert parse_design("<code>\n```python\n" + DESIGN).code == DESIGN
    assert parse_design("```python\n" + DESIGN).code == DESIGN


def test_bare_code():
    assert parse_design(DESIGN).code == DESIGN
    assert parse_design("<think>plan</think>\n" + DESIGN).code == DESIGN


def test_dialect_bare_code():
    code = "from workflow import Workflow\nw = Workflow()\nw.run(question)\n"
    assert parse_design(code).code == code


@pytest.mark.parametrize("text,error", [
    ("", "empty designer answer"),
    (None, "empty designer answer"),
    ("<think>only thinking", "the answer has only a <think> section (no code after </think>)"),
    ("<code>   </code>", "<code> block is empty"),
    ("```bash\nrm -rf /\n```", "fenced block is not python (expected ```python)"),
    ("I would use three agents and vote.", "no <code> block, no ```python block, and the answer is not Python code"),
    ("x = 1", "no <code> block or ```python block found, and the bare text is not a design (no finish(...) "
              "or workflow.run(...))"),
])
def test_parse_errors(text, error):
    parsed = parse_design(text)
    assert parsed.code is None and parsed.error == error and not parsed.ok


# ----------------------------------------------------------------- validate
def test_valid_designs():
    assert validate_design(DESIGN) == []
    assert validate_design("import math\nfrom verl_metaagent.design import api\napi.finish(math.sqrt(4))\n") == []
    assert validate_design("from workflow import Workflow\nfrom workflow.nodes import DebateNode\nw = Workflow()\n"
                           "r = w.run(question)\nprint(r.content)\n") == []
    assert validate_design("from __future__ import annotations\nfrom verl_metaagent.design.api import finish\n"
                           "if __name__ == '__main__':\n    finish(1)\n") == []


@pytest.mark.parametrize("code,reason", [
    ("x = (\n", "syntax error at line 1: '(' was never closed"),
    ("from verl_metaagent.design.api import *\nimport os\nfinish(1)", "line 2: import of 'os' is not allowed"),
    ("from verl_metaagent.design.api import *\nfrom subprocess import run\nfinish(1)",
     "line 2: import from 'subprocess' is not allowed"),
    ("from verl_metaagent.design.api import *\nimport sys as s\nfinish(1)", "line 2: import of 'sys' is not allowed"),
    ("from verl_metaagent.design.api import *\nfinish(open('/etc/passwd').read())",
     "line 2: use of 'open' is not allowed"),
    ("from verl_metaagent.design.api import *\n__import__('os')\nfinish(1)",
     "line 2: use of '__import__' is not allowed"),
    ("from verl_metaagent.design.api import *\nfinish(eval('1'))", "line 2: use of 'eval' is not allowed"),
    ("from verl_metaagent.design.api import *\nexec('x=1')\nfinish(1)", "line 2: use of 'exec' is not allowed"),
    ("from verl_metaagent.design.api import *\nc = compile('1', 'f', 'eval')\nfinish(1)",
     "line 2: use of 'compile' is not allowed"),
    ("from verl_metaagent.design.api import *\ng = globals()\nfinish(1)", "line 2: use of 'globals' is not allowed"),
    ("from verl_metaagent.design.api import *\nx = ().__class__.__bases__[0].__subclasses__()\nfinish(1)",
     "line 2: access to private attribute '.__subclasses__' is not allowed"),
    ("from verl_metaagent.design.api import *\nimport random\nrandom._os.system('ls')\nfinish(1)",
     "line 3: access to private attribute '._os' is not allowed"),
    ("from verl_metaagent.design.api import *\nimport typing\ntyping.sys.exit()\nfinish(1)",
     "line 3: access to attribute '.sys' is not allowed"),
    ("from verl_metaagent.design.api import *\nfrom typing import sys\nfinish(1)",
     "line 2: import of 'sys' from 'typing' is not allowed"),
    ("from verl_metaagent.design.api import _transport\nfinish(1)",
     "line 1: import of private name '_transport' is not allowed"),
    ("from verl_metaagent.design import _transport\nfrom verl_metaagent.design.api import finish\nfinish(1)",
     "line 1: import of '_transport' from verl_metaagent.design is not allowed"),
    ("import verl_metaagent.rollout\nfrom verl_metaagent.design.api import finish\nfinish(1)",
     "line 1: import of 'verl_metaagent.rollout' is not allowed"),
    ("from . import x\nfrom verl_metaagent.design.api import finish\nfinish(1)",
     "line 1: relative imports are not allowed"),
    ("from verl_metaagent.design.api import *\nb = __builtins__\nfinish(1)",
     "line 2: use of '__builtins__' is not allowed"),
])
def test_rejections_name_the_line(code, reason):
    assert reason in validate_design(code)


@pytest.mark.parametrize("code,reason", [
    ("print(1)\n", "design must import the design API (from verl_metaagent.design.api import ...) "
                   "or the workflow dialect (from workflow import ...)"),
    ("from verl_metaagent.design.api import *\nAgent('a', 'b').ask()\n",
     "no entry point: the design never calls finish(answer)"),
    ("from workflow import Workflow\nw = Workflow()\n",
     "no entry point: the design never calls workflow.run(question)"),
    ("", "empty design"),
])
def test_entry_point(code, reason):
    assert validate_design(code) == [reason]


def test_size_limit():
    big = DESIGN + "#" * MAX_DESIGN_CHARS
    assert validate_design(big) == [f"design too long: {len(big)} characters (limit {MAX_DESIGN_CHARS})"]


def test_null_byte_is_rejected_not_raised():
    assert validate_design("x = 1\x00")[0].startswith(("cannot parse design", "syntax error"))


def test_several_reasons_are_all_reported():
    code = "import os\nimport socket\nfrom verl_metaagent.design.api import *\nfinish(eval('1'))"
    assert validate_design(code) == [
        "line 1: import of 'os' is not allowed",
        "line 2: import of 'socket' is not allowed",
        "line 4: use of 'eval' is not allowed",
    ]


def test_lone_closing_think_tag_drops_reasoning():
    text = "reasoning with a draft\n```python\nfinish(0)\n```\n</think>\n<code>\n```python\n" + DESIGN + "```\n</code>"
    assert parse_design(text).code == DESIGN
    assert (parse_design("just thoughts </think>").error
            == "the answer has only a <think> section (no code after </think>)")


def test_backticks_inside_design_strings_do_not_end_the_block():
    code = ('from verl_metaagent.design.api import *\nc = Agent("C", "Reply with one ```python block.")\n'
            'finish(c.ask())\n')
    assert parse_design("<think>x</think><code>```python\n" + code + "```</code>").code == code
    assert parse_design("Design:\n```python\n" + code + "```\n").code == code
    assert parse_design("<code>\nHere it is:\n```python\n" + code + "```\n</code>").code == code


@pytest.mark.parametrize("line,reason", [
    ("g = string.Formatter().get_field('0.x', [1], {})", "access to attribute '.Formatter' is not allowed"),
    ("x = {}['__builtins__']", "strings naming dunder attributes are not allowed"),
    ("x = '{0.__class__}'.format(1)", "strings naming dunder attributes are not allowed"),
    ("from operator import attrgetter", "import of 'attrgetter' from 'operator' is not allowed"),
])
def test_string_level_escapes_are_rejected(line, reason):
    code = "import string\nfrom verl_metaagent.design.api import *\n" + line + "\nfinish(1)\n"
    assert f"line 3: {reason}" in validate_design(code)


def test_main_guard_string_is_fine():
    assert validate_design("from verl_metaagent.design.api import *\nif __name__ == '__main__':\n    finish(1)\n") == []


def test_prompt_mentioning_init_is_fine():
    code = "from verl_metaagent.design.api import *\nfinish(Agent('C', 'Write class Solution with __init__.').ask())\n"
    assert validate_design(code) == []
