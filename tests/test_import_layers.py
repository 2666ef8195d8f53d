"""docs/architecture.md's layer rules as a test: walk every import of the plugin, ``metaagent_sandbox`` and
``reward_fns`` (with ``ast``, nothing is imported) and fail on an import that the layer table does not allow.

The table below is the one in docs/architecture.md ("Layers"); a test checks that both say the same.
A module belongs to the unit with the longest matching module prefix; an import between two modules
of different units must be allowed by the importing unit's row. Imports inside functions count too
(a lazy import still couples the layers). The table must stay acyclic, so it is a layering.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("verl_metaagent", "metaagent_sandbox", "reward_fns")
P = "verl_metaagent."

# unit: (module prefixes, units it may import)
LAYERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "contract": ((P + "contract",), ()),
    "utils": ((P + "utils",), ()),
    "sandbox": (("metaagent_sandbox", P + "sandbox"), ()),  # verl_metaagent.sandbox: the re-export
    "answers": (("reward_fns.answers",), ()),
    "reward_fns": (("reward_fns",), ("answers", "sandbox")),
    "advantage": ((P + "advantage",), ("contract", "utils")),
    "phases": ((P + "phases",), ("contract", "utils")),
    "backends": ((P + "backends",), ("utils",)),
    "clients": ((P + "clients",), ("utils",)),
    "design": ((P + "design",), ("answers", "sandbox", "utils")),
    "cpu": ((P + "cpu",), ("backends", "utils")),
    "rollout": ((P + "rollout",), ("answers", "clients", "contract", "design", "reward_fns", "sandbox", "utils")),
    "trainer_core": (
        (P + "trainer.step_plan", P + "trainer.provenance", P + "trainer.separate_params"),
        ("advantage", "contract", "phases", "utils"),
    ),
    "config": (
        (P + "config",),
        ("advantage", "contract", "cpu", "phases", "reward_fns", "rollout", "sandbox", "trainer_core", "utils"),
    ),
    "plugin": (("verl_metaagent", P + "_lazy_registration", P + "stock_launch"), ("utils",)),
    "trainer": (
        (P + "trainer",),
        ("advantage", "config", "contract", "phases", "plugin", "rollout", "trainer_core", "utils"),
    ),
    "solve": ((P + "solve",), ("clients", "contract", "design", "reward_fns", "rollout", "utils")),
    "eval": ((P + "eval",), ("backends", "clients", "design", "reward_fns", "rollout", "solve", "utils")),
    "distill": ((P + "distill",), ("clients", "design", "reward_fns", "rollout", "utils")),
    "demo": ((P + "demo",), ("backends", "clients", "cpu", "design", "rollout", "utils")),
    "ablate": ((P + "ablate",), ("demo",)),
    "cli": ((P + "cli",), ("clients", "design", "distill", "eval", "reward_fns", "rollout", "solve", "utils")),
    "launch": ((P + "main", P + "dry_run"), ("config", "rollout", "trainer", "trainer_core", "utils")),
    "testing": ((P + "testing",), ()),
}

HEAVY = ("verl", "torch", "ray", "transfer_queue", "tensordict", "transformers")
# units whose modules never import a heavy package, not even lazily (sandboxed children, graders and
# the pure core import them); the verl glue files are the exceptions
PURE_UNITS = ("contract", "utils", "sandbox", "answers", "reward_fns", "advantage", "phases", "clients", "design",
              "trainer_core", "config", "solve", "eval", "plugin", "testing")
PURE_MODULES = tuple(P + "rollout." + m for m in ("config", "faults", "problems", "rows", "tree", "tree_runner"))
GLUE = (P + "advantage.verl_glue", "reward_fns.verl_fallback", P + "config.preflight")


def _module_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


MODULES = _module_files()


def _imported_names(module: str, path: Path) -> list[str]:
    """Fully qualified names of the modules ``module`` imports (relative imports resolved; names outside the
    walked packages are kept as written)."""
    names = []
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            # ``from pkg import mod`` imports the module ``pkg.mod``; ``from mod import name``, the module ``mod``
            names += [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    return names


def _resolve(name: str) -> str | None:
    """The longest known module that ``name`` is or lies in (``pkg.mod.Class`` -> ``pkg.mod``)."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in MODULES:
            return ".".join(parts)
        parts.pop()
    return None


def unit_of(module: str) -> str | None:
    """The unit of a module: the one with the longest prefix that is the module or a package above it."""
    best, best_len = None, -1
    for unit, (prefixes, _) in LAYERS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = unit, len(prefix)
    return best


def import_edges() -> list[tuple[str, str]]:
    """``(importer, imported)`` module pairs inside the walked packages."""
    edges = set()
    for module, path in MODULES.items():
        for name in _imported_names(module, path):
            target = _resolve(name)
            if target is not None and target != module:
                edges.add((module, target))
    return sorted(edges)


def violations(edges, layers=LAYERS) -> list[str]:
    """Edges the table does not allow, as readable lines."""
    bad = []
    for src, dst in edges:
        su, du = unit_of(src), unit_of(dst)
        if su != du and du not in layers[su][1]:
            bad.append(f"{src} ({su}) imports {dst} ({du}); {su} may import: {', '.join(layers[su][1]) or 'nothing'}")
    return bad


def test_every_module_has_a_unit_and_every_top_level_name_is_in_the_table():
    named = {p for prefixes, _ in LAYERS.values() for p in prefixes}
    top_level = {".".join(m.split(".")[:2]) for m in MODULES if m.startswith(P)}
    assert sorted(top_level - named) == [], "add the new module or subpackage to LAYERS and docs/architecture.md"
    assert [m for m in MODULES if unit_of(m) is None] == []


def test_the_table_is_a_layering():
    """Acyclic, and only names its own units."""
    for unit, (_, allowed) in LAYERS.items():
        assert set(allowed) <= set(LAYERS), unit
    done, visiting = set(), []

    def visit(unit):
        assert unit not in visiting, f"cycle in LAYERS: {' -> '.join(visiting + [unit])}"
        if unit in done:
            return
        visiting.append(unit)
        for nxt in LAYERS[unit][1]:
            visit(nxt)
        visiting.pop()
        done.add(unit)

    for unit in LAYERS:
        visit(unit)


def test_no_import_crosses_a_layer_upward():
    assert violations(import_edges()) == []


def test_the_check_catches_an_upward_import():
    """The walker sees plain, ``from``, relative and lazy imports, and the table rejects the old upward ones."""
    edges = import_edges()
    assert (P + "rollout.tree_runner", P + "contract") in edges  # from verl_metaagent.contract import ...
    assert (P + "rollout.worker", P + "contract") in edges  # from verl_metaagent import contract
    assert (P + "rollout.grading", P + "rollout.code_tests") in edges  # lazy, inside a function
    assert violations([(P + "advantage.verl_glue", P + "config.schema")])  # advantage reaching the config
    assert violations([(P + "clients.token_client", P + "rollout.tree")])  # clients reaching the rollout
    assert violations([("reward_fns.math.grader", P + "rollout.tree")])
    assert violations([(P + "sandbox.process", P + "utils.lazy")])
    assert violations([("metaagent_sandbox.process", P + "utils.lazy")])
    assert violations([("reward_fns.code.grader", P + "utils")])  # reward_fns stays stand-alone
    assert not violations([("reward_fns.code._executor", "metaagent_sandbox")])
    assert not violations([(P + "trainer.v1_trainer", P + "config.schema")])


def test_the_stand_alone_packages_import_nothing_of_the_plugin():
    """``reward_fns`` and ``metaagent_sandbox`` never name ``verl_metaagent`` (not even its ``sandbox`` re-export,
    which the table allows as part of the sandbox unit): importing the plugin's package installs its import hook.
    tests/reward_fns/test_standalone.py checks the same at run time, in a fresh interpreter."""
    standalone = [m for m in MODULES if m.split(".")[0] in ("reward_fns", "metaagent_sandbox")]
    assert "reward_fns.code._executor" in standalone and "metaagent_sandbox.process" in standalone
    found = {m: [n for n in _imported_names(m, MODULES[m]) if n == "verl_metaagent" or n.startswith(P)]
             for m in standalone}
    assert {m: names for m, names in found.items() if names} == {}


def test_the_sandbox_re_export_is_only_a_re_export():
    """``verl_metaagent.sandbox`` holds no code of its own: one ``__init__`` that imports ``metaagent_sandbox``."""
    assert [m for m in MODULES if m.startswith(P + "sandbox")] == [P + "sandbox"]
    assert {n.split(".")[0] for n in _imported_names(P + "sandbox", MODULES[P + "sandbox"])} == {
        "importlib", "pkgutil", "sys", "metaagent_sandbox"}


def test_relative_imports_resolve(tmp_path):
    pkg = tmp_path / "verl_metaagent" / "x"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import contract\nfrom ..contract import ROLE\n")
    (pkg / "a.py").write_text("from .b import f\nfrom .. import utils\nimport json\n")
    assert _imported_names("verl_metaagent.x", pkg / "__init__.py") == ["verl_metaagent.x", "verl_metaagent.contract"]
    assert _imported_names("verl_metaagent.x.a", pkg / "a.py") == ["verl_metaagent.x.b", "verl_metaagent.utils", "json"]


def _heavy(module: str) -> list[str]:
    return sorted({n.split(".")[0] for n in _imported_names(module, MODULES[module])} & set(HEAVY))


def test_pure_layers_import_no_verl_torch_or_ray():
    pure = [m for m in MODULES if (unit_of(m) in PURE_UNITS or m in PURE_MODULES) and m not in GLUE]
    assert P + "contract" in pure and P + "trainer.step_plan" in pure and P + "rollout.rows" in pure
    assert {m: _heavy(m) for m in pure if _heavy(m)} == {}


def test_contract_is_pure_python():
    assert [n for n in _imported_names(P + "contract", MODULES[P + "contract"]) if n.split(".")[0] in
            HEAVY + ("numpy",)] == []


def _doc_table() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    table = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        ticks = [re.findall(r"`([^`]+)`", c) for c in cells]
        modules = tuple(m if m in PACKAGES else (m if m.startswith(PACKAGES) else P + m) for m in ticks[1])
        table[ticks[0][0]] = (modules, tuple(ticks[2]))
    return table


def test_docs_state_the_same_table():
    assert _doc_table() == LAYERS

