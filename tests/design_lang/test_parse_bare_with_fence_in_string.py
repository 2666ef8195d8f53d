"""Bare design scripts whose agent prompts mention ```python (inside a string) still parse as code."""

from verl_metaagent.design import parse_design, validate_design
from verl_metaagent.design.reference import REFERENCE_DESIGNS, load_reference


def test_every_reference_design_parses_as_bare_code_unchanged():
    for name in REFERENCE_DESIGNS:
        code = load_reference(name)
        parsed = parse_design(code)
        assert parsed.code is not None, (name, parsed.error)
        assert parsed.code.strip() == code.strip()
        assert validate_design(parsed.code) == []


def test_non_python_fence_still_rejected_with_reason():
    parsed = parse_design("Here:\n```js\nconsole.log(1)\n```\nand ``` more")
    assert parsed.code is None and "not python" in parsed.error
