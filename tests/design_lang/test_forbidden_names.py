"""Every forbidden name and attribute of the design validator, spelt out here (not read from the validator),
so that dropping one from its set fails a test."""

import pytest

from verl_metaagent.design.validate import FORBIDDEN_ATTRIBUTES, FORBIDDEN_NAMES, validate_design

ATTRIBUTES = [
    "sys", "os", "builtins", "subprocess", "importlib", "socket", "shutil", "modules", "system", "popen",
    "f_globals", "f_locals", "f_back", "f_builtins", "gi_frame", "cr_frame", "ag_frame", "tb_frame", "co_code",
    "mro", "get_field", "vformat", "Formatter", "attrgetter", "methodcaller",
]
NAMES = [
    "__import__", "eval", "exec", "compile", "open", "globals", "locals", "vars", "getattr", "setattr", "delattr",
    "input", "breakpoint", "memoryview", "help", "__builtins__", "__loader__", "__spec__", "Formatter",
    "attrgetter", "methodcaller",
]
HEAD = "from verl_metaagent.design.api import *\nimport math\n"
TAIL = "\nfinish(str(x))\n"


def test_the_lists_here_cover_the_validators_sets():
    """New entries are welcome (add them here too); a removed one is a weaker sandbox."""
    assert set(ATTRIBUTES) <= FORBIDDEN_ATTRIBUTES and set(NAMES) <= FORBIDDEN_NAMES
    assert FORBIDDEN_ATTRIBUTES - set(ATTRIBUTES) <= {"_transport"} and FORBIDDEN_NAMES == set(NAMES)


def test_the_harness_accepts_a_harmless_attribute():
    assert validate_design(HEAD + "x = math.pi" + TAIL) == []


@pytest.mark.parametrize("attr", ATTRIBUTES)
def test_each_forbidden_attribute_is_rejected(attr):
    reasons = validate_design(HEAD + f"x = math.{attr}" + TAIL)
    assert any(f"access to attribute '.{attr}' is not allowed" in r for r in reasons), reasons


@pytest.mark.parametrize("attr", ATTRIBUTES)
def test_each_forbidden_attribute_cannot_be_imported_by_name(attr):
    reasons = validate_design(HEAD + f"from math import {attr}\nx = 1" + TAIL)
    assert any(f"import of '{attr}' from 'math' is not allowed" in r for r in reasons), reasons


@pytest.mark.parametrize("name", [n for n in NAMES if not (n.startswith("__") and n.endswith("__"))])
def test_each_forbidden_name_is_rejected(name):
    reasons = validate_design(HEAD + f"x = {name}" + TAIL)
    assert any(f"use of '{name}' is not allowed" in r for r in reasons), reasons
