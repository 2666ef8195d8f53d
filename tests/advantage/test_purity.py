"""core.py and phases.py import no torch / verl / ray (design rule: pure functions on arrays and steps)."""

from support.imports import heavy_imports


def test_pure_modules_import_no_heavy_deps():
    assert heavy_imports(
        "import verl_metaagent.advantage.core, verl_metaagent.phases, verl_metaagent.config.schema") == []


def test_clients_and_solve_import_no_heavy_deps():
    statements = (
        "import verl_metaagent.clients, verl_metaagent.clients.openai_client, verl_metaagent.solve\n"
        "import verl_metaagent.testing.openai_server, verl_metaagent.rollout.tree_runner"
    )
    assert heavy_imports(statements) == []


def test_heavy_imports_detects_a_heavy_package():
    assert heavy_imports("import json, ray") == ["ray"]
