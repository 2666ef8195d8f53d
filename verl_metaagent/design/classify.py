"""Structure classifier for design scripts (our API and the release's workflow dialect).

``classify_design(code)`` reads the script's AST (it never runs it) and returns the first
label whose rule matches, in this order:

1. ``code_test``  -- code is executed: ``run_tests(`` / ``run_code(`` / a ``python_execute``
   tool (``ToolRegistry.register("python_execute", ...)`` or ``register_python_execute()``).
2. ``debate``     -- a ``DebateNode``, or an agent whose role name contains "debat".
3. ``ensemble``   -- an ``EnsembleNode``, or a ``majority_vote(`` / ``pick(`` call.
4. ``reflection`` -- a ``ReflectionNode``, or a role name with critic / reflect / review / feedback.
5. ``plan_verify``-- role names with "plan" and with verif / check.
6. ``single``     -- exactly one agent constructed (counting comprehension multiplicity) and
   no ask call inside a loop.
7. ``other``      -- anything else (including code that does not parse).

``design_stats(code)`` returns the counts the rules use.
"""

from __future__ import annotations

import ast
from typing import Optional

__all__ = ["PATTERNS", "classify_design", "design_stats"]

PATTERNS = ("single", "reflection", "ensemble", "debate", "plan_verify", "code_test", "other")

_AGENT_CTORS = {"Agent", "AgentNode"}
_ASK_FUNCS = {"ask", "respond", "complete"}
_NODE_TYPES = {"EnsembleNode", "DebateNode", "ReflectionNode", "RouterNode"}


def _callee(node: ast.Call) -> Optional[str]:
    f = node.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return None


def _literal_len(it: ast.AST, sizes: Optional[dict] = None) -> int:
    """Multiplicity of a comprehension source: literal list/tuple/set/string length, ``range(k)``,
    ``enumerate(x)`` / ``zip(x, ...)`` (of its first argument), or a name bound earlier to such a
    literal (``sizes``)."""
    sizes = sizes or {}
    if isinstance(it, ast.Name):
        return sizes.get(it.id, 1)
    if isinstance(it, ast.Call) and _callee(it) in ("enumerate", "zip") and it.args:
        return _literal_len(it.args[0], sizes)
    if isinstance(it, (ast.List, ast.Tuple, ast.Set)):
        return len(it.elts)
    if isinstance(it, ast.Constant) and isinstance(it.value, str):
        return len(it.value)
    if isinstance(it, ast.Call) and _callee(it) == "range" and it.args:
        arg = it.args[-1] if len(it.args) == 1 else None
        if isinstance(arg, ast.Constant) and isinstance(arg.value, int):
            return max(0, arg.value)
        if len(it.args) >= 2 and all(isinstance(a, ast.Constant) and isinstance(a.value, int) for a in it.args[:2]):
            return max(0, it.args[1].value - it.args[0].value)
    return 1


def _role_name(call: ast.Call) -> str:
    arg = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "name"), None)
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr):
        return "".join(v.value for v in arg.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return ""


class _Collector(ast.NodeVisitor):
    def __init__(self) -> None:
        self.num_agents = 0
        self.roles: list[str] = []
        self.ask_sites = 0
        self.asks_in_loop = 0
        self.node_types: set[str] = set()
        self.calls: set[str] = set()
        self.python_tool = False
        self.dialect = False
        self.loops = 0
        self._loop_depth = 0
        self._mult = [1]
        self._sizes: dict[str, int] = {}

    def visit_Assign(self, node: ast.Assign) -> None:
        size = _literal_len(node.value) if isinstance(node.value, (ast.List, ast.Tuple, ast.Constant)) else None
        if size is not None:
            for t in node.targets:
                if isinstance(t, ast.Name):
                    self._sizes[t.id] = size
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if ((node.module or "").split(".")[0] == "workflow"
                or (node.module or "").startswith("verl_metaagent.design.workflow")):
            self.dialect = True

    def visit_Import(self, node: ast.Import) -> None:
        if any(a.name.split(".")[0] == "workflow" for a in node.names):
            self.dialect = True

    def _loop(self, node: ast.AST) -> None:
        self.loops += 1
        self._loop_depth += 1
        self.generic_visit(node)
        self._loop_depth -= 1

    visit_For = visit_While = visit_AsyncFor = _loop

    def _comp(self, node: ast.AST) -> None:
        mult = 1
        for gen in node.generators:
            mult *= _literal_len(gen.iter, self._sizes)
            self.visit(gen.iter)
        self._mult.append(self._mult[-1] * mult)
        self._loop_depth += 1
        for gen in node.generators:
            for cond in gen.ifs:
                self.visit(cond)
        for field in ("elt", "key", "value"):
            if getattr(node, field, None) is not None:
                self.visit(getattr(node, field))
        self._loop_depth -= 1
        self._mult.pop()

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comp

    def visit_Call(self, node: ast.Call) -> None:
        name = _callee(node)
        if name:
            self.calls.add(name)
        if name in _AGENT_CTORS:
            self.num_agents += self._mult[-1]
            self.roles.append(_role_name(node).lower())
        elif name in _ASK_FUNCS:
            self.ask_sites += 1
            if self._loop_depth:
                self.asks_in_loop += 1
        elif name in _NODE_TYPES:
            self.node_types.add(name)
        elif name == "register_python_execute":
            self.python_tool = True
        elif name == "register" and node.args:
            a = node.args[0]
            if isinstance(a, ast.Constant) and isinstance(a.value, str) and "python" in a.value.lower():
                self.python_tool = True
        self.generic_visit(node)


def _collect(code: Optional[str]) -> Optional[_Collector]:
    try:
        tree = ast.parse(code or "")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    c = _Collector()
    c.visit(tree)
    return c


def design_stats(code: Optional[str]) -> dict:
    """Counts over the script: ``num_agents`` (constructor sites times comprehension multiplicity),
    ``num_ask_sites``, ``num_asks_in_loops``, ``num_loops``, ``node_types`` (sorted),
    ``roles`` (lower-case role names), ``runs_code``, ``dialect``, ``num_lines``, ``parses``."""
    c = _collect(code)
    lines = len([ln for ln in (code or "").splitlines() if ln.strip()])
    if c is None:
        return {"parses": False, "num_agents": 0, "num_ask_sites": 0, "num_asks_in_loops": 0, "num_loops": 0,
                "node_types": [], "roles": [], "runs_code": False, "dialect": False, "num_lines": lines}
    return {
        "parses": True,
        "num_agents": c.num_agents,
        "num_ask_sites": c.ask_sites,
        "num_asks_in_loops": c.asks_in_loop,
        "num_loops": c.loops,
        "node_types": sorted(c.node_types),
        "roles": list(c.roles),
        "runs_code": bool(c.python_tool or {"run_tests", "run_code", "python_execute"} & c.calls),
        "dialect": c.dialect,
        "num_lines": lines,
    }


def classify_design(code: Optional[str]) -> str:
    """Return one of :data:`PATTERNS` for the design ``code`` (rules in the module docstring)."""
    c = _collect(code)
    if c is None:
        return "other"
    roles = c.roles

    def role_has(*words: str) -> bool:
        return any(w in r for r in roles for w in words)

    if c.python_tool or {"run_tests", "run_code", "python_execute"} & c.calls:
        return "code_test"
    if "DebateNode" in c.node_types or role_has("debat"):
        return "debate"
    if "EnsembleNode" in c.node_types or {"majority_vote", "pick"} & c.calls:
        return "ensemble"
    if "ReflectionNode" in c.node_types or role_has("critic", "reflect", "review", "feedback"):
        return "reflection"
    if role_has("plan") and role_has("verif", "check"):
        return "plan_verify"
    if c.num_agents == 1 and c.asks_in_loop == 0 and not c.node_types:
        return "single"
    return "other"
