"""Static validation of a design script (a first filter; the sandbox is the real barrier).

``validate_design(code)`` returns a list of reasons (empty = valid):

* size: at most ``MAX_DESIGN_CHARS`` characters;
* syntax: ``syntax error at line L: ...``;
* entry point: a design that imports our API must call ``finish(...)``; a design in the
  release's dialect (imports ``workflow``) must call ``<workflow>.run(...)``; a design must
  import one of the two;
* imports: only ``ALLOWED_MODULES`` (top-level names; for ``verl_metaagent`` only
  ``verl_metaagent.design.api`` and ``verl_metaagent.design.workflow``), no relative imports,
  no private names (``from m import _x``); a design in the release's dialect may also import
  ``DIALECT_MODULES`` (the boilerplate the released model writes: ``os``, ``sys`` and the
  release's ``utils.environments`` modules), which bind sandbox-backed stand-ins
  (``workflow/release_imports.py``, ``workflow/environments.py``), never the real modules;
* forbidden names: ``FORBIDDEN_NAMES`` (``eval``, ``exec``, ``open``, ``__import__``, ...)
  and every dunder name except ``__name__``;
* forbidden attributes: any attribute starting with ``_`` (``x.__class__``, ``random._os``)
  and ``FORBIDDEN_ATTRIBUTES`` (``typing.sys``, ``dataclasses.sys``, ``f_globals``,
  ``string.Formatter().get_field``, ``operator.attrgetter``...);
* string constants that name an internals dunder (``"__globals__"``, ``"__class__"``...;
  ``"__init__"`` and ``"__main__"`` are fine), which would reach internals through
  ``str.format`` or subscripts.
"""

from __future__ import annotations

import ast
import functools
import re

__all__ = ["ALLOWED_MODULES", "DIALECT_MODULES", "FORBIDDEN_ATTRIBUTES", "FORBIDDEN_NAMES", "MAX_DESIGN_CHARS",
           "validate_design"]

#: Longest accepted design script.
MAX_DESIGN_CHARS = 20_000

#: Modules a design may import (top-level names).
ALLOWED_MODULES = frozenset(
    {
        "__future__", "bisect", "cmath", "collections", "copy", "dataclasses", "decimal", "enum",
        "fractions", "functools", "heapq", "itertools", "json", "math", "numbers", "operator",
        "random", "re", "statistics", "string", "textwrap", "typing", "workflow",
    }
)
#: Modules a design in the release's workflow dialect may also import (exact names; each binds a
#: stand-in inside the sandbox). Designs of our own API keep the strict list above.
DIALECT_MODULES = frozenset(
    {"os", "os.path", "sys", "utils", "utils.environments", "utils.environments.math_env",
     "utils.environments.search_env"}
)
#: Allowed ``verl_metaagent`` modules (and their sub-modules).
ALLOWED_PLUGIN_MODULES = ("verl_metaagent.design.api", "verl_metaagent.design.workflow")

#: Builtins and names a design may not use at all.
FORBIDDEN_NAMES = frozenset(
    {
        "__import__", "eval", "exec", "compile", "open", "globals", "locals", "vars", "getattr",
        "setattr", "delattr", "input", "breakpoint", "memoryview", "help", "__builtins__",
        "__loader__", "__spec__", "Formatter", "attrgetter", "methodcaller",
    }
)
#: Attribute names that reach interpreter internals or the OS through allowed modules.
FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "sys", "os", "builtins", "subprocess", "importlib", "socket", "shutil", "modules",
        "system", "popen", "f_globals", "f_locals", "f_back", "f_builtins", "gi_frame", "cr_frame",
        "ag_frame", "tb_frame", "co_code", "mro", "_transport", "get_field", "vformat", "Formatter",
        "attrgetter", "methodcaller",
    }
)


# Dunders that lead from an object to interpreter internals; a string naming one is rejected
# (a prompt that mentions ``__init__`` or ``__main__`` is fine).
_DUNDER = re.compile(
    r"__(?:globals|builtins|class|subclasses|bases?|mro|dict|code|closure|import|getattribute|"
    r"loader|spec|self|func|reduce(?:_ex)?|traceback|frame|subclasshook|init_subclass|defaults|kwdefaults)__"
)


def _module_allowed(name: str) -> bool:
    if name.split(".")[0] in ALLOWED_MODULES:
        return True
    return any(name == m or name.startswith(m + ".") for m in ALLOWED_PLUGIN_MODULES)


def _imports_dialect(tree: ast.AST) -> bool:
    """True when the design imports the release's workflow dialect (``workflow`` or ours)."""
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            mod = node.module or ""
            names = [mod] + ([f"{mod}.{a.name}" for a in node.names] if mod == "verl_metaagent.design" else [])
        if any(n.split(".")[0] == "workflow" or n.startswith("verl_metaagent.design.workflow") for n in names):
            return True
    return False


def validate_design(code: str) -> list[str]:
    """Return the reasons why ``code`` is not an acceptable design (empty list = valid).

    Pure in ``code``, so results are cached: the rollout validates a design once when it is
    sampled and again in each of its N executions.
    """
    if code is None or not str(code).strip():
        return ["empty design"]
    return list(_validate_text(str(code)))


@functools.lru_cache(maxsize=1024)
def _validate_text(code: str) -> list[str]:  # cached: callers get a copy
    if len(code) > MAX_DESIGN_CHARS:
        return [f"design too long: {len(code)} characters (limit {MAX_DESIGN_CHARS})"]
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return [f"syntax error at line {exc.lineno}: {exc.msg}"]
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        return [f"cannot parse design: {type(exc).__name__}"]

    reasons: list[str] = []
    uses_api = uses_dialect = False
    calls_finish = calls_run = False
    dialect = _imports_dialect(tree)

    def bad(node: ast.AST, msg: str) -> None:
        reasons.append(f"line {getattr(node, 'lineno', '?')}: {msg}")

    def allowed(name: str) -> bool:
        return _module_allowed(name) or (dialect and name in DIALECT_MODULES)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not allowed(alias.name):
                    bad(node, f"import of '{alias.name}' is not allowed")
                uses_api |= alias.name.startswith("verl_metaagent.design.api")
                uses_dialect |= (alias.name.split(".")[0] == "workflow"
                                 or alias.name.startswith("verl_metaagent.design.workflow"))
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                bad(node, "relative imports are not allowed")
                continue
            if mod == "verl_metaagent.design":
                names = [a.name for a in node.names]
                if all(n in ("api", "workflow") for n in names):
                    uses_api |= "api" in names
                    uses_dialect |= "workflow" in names
                else:
                    bad(node, f"import of '{', '.join(n for n in names if n not in ('api', 'workflow'))}' "
                        "from verl_metaagent.design is not allowed")
                continue
            if not allowed(mod):
                bad(node, f"import from '{mod}' is not allowed")
                continue
            uses_api |= mod.startswith("verl_metaagent.design.api")
            uses_dialect |= mod.split(".")[0] == "workflow" or mod.startswith("verl_metaagent.design.workflow")
            for alias in node.names:
                if alias.name.startswith("_") and mod != "__future__":
                    bad(node, f"import of private name '{alias.name}' is not allowed")
                elif alias.name in FORBIDDEN_ATTRIBUTES or alias.name in FORBIDDEN_NAMES:
                    bad(node, f"import of '{alias.name}' from '{mod}' is not allowed")
        elif isinstance(node, ast.Name):
            if node.id in FORBIDDEN_NAMES:
                bad(node, f"use of '{node.id}' is not allowed")
            elif node.id.startswith("__") and node.id.endswith("__") and node.id != "__name__":
                bad(node, f"use of '{node.id}' is not allowed")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                bad(node, f"access to private attribute '.{node.attr}' is not allowed")
            elif node.attr in FORBIDDEN_ATTRIBUTES:
                bad(node, f"access to attribute '.{node.attr}' is not allowed")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _DUNDER.search(node.value):
                bad(node, "strings naming dunder attributes are not allowed")
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id == "finish") or (isinstance(f, ast.Attribute) and f.attr == "finish"):
                calls_finish = True
            if isinstance(f, ast.Attribute) and f.attr == "run":
                calls_run = True

    if not uses_api and not uses_dialect:
        reasons.append("design must import the design API (from verl_metaagent.design.api import ...) "
                       "or the workflow dialect (from workflow import ...)")
    elif uses_api and not uses_dialect and not calls_finish:
        reasons.append("no entry point: the design never calls finish(answer)")
    elif uses_dialect and not uses_api and not calls_run:
        reasons.append("no entry point: the design never calls workflow.run(question)")
    elif uses_api and uses_dialect and not (calls_finish or calls_run):
        reasons.append("no entry point: the design calls neither finish(answer) nor workflow.run(question)")
    return reasons
