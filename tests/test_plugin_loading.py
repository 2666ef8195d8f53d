"""The plugin must load through verl's own import path and stay cheap to import."""

import os
import subprocess
import sys


def _run(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_import_is_cheap_and_does_not_import_verl():
    proc = _run("import sys, verl_metaagent, reward_fns; print('verl' in sys.modules)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_verl_external_modules_env_imports_plugin():
    code = (
        "import sys, verl\n"
        "print('verl_metaagent' in sys.modules)\n"
        "from verl_metaagent import _lazy_registration as r\n"
        "print(r._finder in sys.meta_path)\n"
    )
    proc = _run(code, VERL_USE_EXTERNAL_MODULES="verl_metaagent", VERL_USE_EXTERNAL_PLUGINS="none")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True"]


def test_entry_point_is_discovered_by_stock_verl():
    proc = _run("import sys, verl; print('verl_metaagent' in sys.modules)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"
