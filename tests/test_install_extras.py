"""The GPU extras resolve: `pip install --dry-run` of ".[gpu]" and ".[sglang]" in a fresh venv.

What a GPU user runs first is `pip install -e ".[gpu]"` on a clean machine; we cannot install
CUDA wheels here, but we can prove that pip finds one consistent set of versions, and that it is
the set setup.py's pin notes record.

* A fresh venv (``python -m venv --without-pip``) is the target; this venv's pip resolves for it
  with ``pip --python``.
* Machine-local pip settings are dropped: ``PIP_CONFIG_FILE=os.devnull`` ignores the config
  files (on the build machines ``/etc/xdg/pip`` caps torch at the CPU wheel's release; an empty
  ``PIP_CONSTRAINT=`` does *not* lift a config-file constraint), and ``PIP_CONSTRAINT`` /
  ``PIP_FIND_LINKS`` are unset. Index settings from the environment are kept.
* ``--dry-run --report`` writes the resolved versions without installing. The registry mirror here
  serves no PEP 658 metadata files, so plain ``--dry-run`` downloads every wheel (3.7 GB for
  ``.[gpu]``); ``--use-feature=fast-deps`` reads each wheel's metadata with HTTP range requests
  instead (measured: no download over 1 MB, ~75-95 s per extra). The two extras resolve at the same
  time (network-bound, so together they take about as long as one).
"""

import json
import os
import re
import subprocess
import sys
import venv

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: extra -> versions it must resolve to (the same numbers are in setup.py's pin notes)
EXPECTED = {
    "gpu": {"vllm": "0.24.0", "torch": "2.11.0", "transformers": "5.9.0", "verl": "0.9.1"},
    "sglang": {"sglang": "0.5.13.post1", "torch": "2.11.0", "transformers": "5.8.1", "verl": "0.9.1"},
}
#: Largest single download allowed during a resolution (fast-deps fetches metadata only).
MAX_DOWNLOAD_MB = 100.0


def clean_pip_env() -> dict:
    """The environment of a machine without this one's pip config, constraints or local wheels."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PIP_CONSTRAINT", "PIP_FIND_LINKS", "PIP_REQUIRE_VIRTUALENV")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def largest_download_mb(log: str) -> float:
    """Largest ``Downloading name (N MB)`` in pip's log, in MB (0 when nothing was downloaded)."""
    sizes = [0.0]
    for number, unit in re.findall(r"Downloading \S+ \(([\d.]+) (kB|MB|GB)\)", log):
        sizes.append(float(number) * {"kB": 1e-3, "MB": 1.0, "GB": 1e3}[unit])
    return max(sizes)


def test_largest_download_parser():
    log = "Downloading a.whl (176 kB)\n  Downloading torch-2.11.0.whl (530.6 MB)\nDownloading b.whl (1.2 GB)\n"
    assert largest_download_mb(log) == 1200.0
    assert largest_download_mb("Would install x-1.0") == 0.0


@pytest.fixture(scope="module")
def resolutions(tmp_path_factory) -> dict:
    """Both extras' ``pip install --dry-run`` started together (network-bound: in parallel they take the
    time of one); extra -> (return code, pip's log, resolved {name: version})."""
    started = {}
    for extra in sorted(EXPECTED):
        work = tmp_path_factory.mktemp(f"resolve_{extra}")
        venv.EnvBuilder(with_pip=False).create(work / "venv")
        cmd = [
            sys.executable, "-m", "pip", "--python", str(work / "venv" / "bin" / "python"), "install", "--dry-run",
            "--ignore-installed", "--use-feature=fast-deps", "--report", str(work / "report.json"),
            "-e", f".[{extra}]",
        ]
        log = open(work / "pip.log", "w+")
        proc = subprocess.Popen(cmd, cwd=ROOT, env=clean_pip_env(), stdout=log, stderr=subprocess.STDOUT, text=True)
        started[extra] = (proc, log, work / "report.json")
    done = {}
    for extra, (proc, log, report) in started.items():
        try:
            proc.wait(timeout=1100)
        finally:
            proc.kill()
        log.seek(0)
        text = log.read()
        log.close()
        resolved = ({i["metadata"]["name"].lower(): i["metadata"]["version"]
                     for i in json.loads(report.read_text())["install"]} if proc.returncode == 0 else {})
        done[extra] = (proc.returncode, text, resolved)
    return done


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("extra", sorted(EXPECTED))
def test_extra_resolves_in_a_fresh_venv(extra, resolutions):
    returncode, log, resolved = resolutions[extra]
    assert returncode == 0, f"`pip install --dry-run -e .[{extra}]` failed:\n{log[-3000:]}"
    assert {name: resolved.get(name) for name in EXPECTED[extra]} == EXPECTED[extra]
    assert "flash-attn" not in resolved and "flash_attn" not in resolved  # a documented second step
    assert largest_download_mb(log) < MAX_DOWNLOAD_MB, "pip downloaded whole wheels: fast-deps did not apply"
    notes = open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read()
    for name, version in EXPECTED[extra].items():
        if name != "verl":
            assert f"{name} {version}" in notes, f"setup.py's pin notes do not record {name} {version}"


def _setup_extras() -> set:
    import ast

    tree = ast.parse(open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "extras_require" for t in node.targets):
            return {k.value for k in node.value.keys}
    raise AssertionError("setup.py has no extras_require")


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_missing_engine_message_names_a_working_command(engine, monkeypatch):
    import importlib.util

    from verl_metaagent.cpu import replica

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == engine else real_find_spec(name, *a))
    error = replica.missing_engine_error(engine)
    message = str(error)
    assert f"actor_rollout_ref.rollout.name={engine}" in message
    extras = re.findall(r'pip install -e "\.\[(\w+)\]"', message)
    assert extras and set(extras) <= _setup_extras()  # the extra it names exists ...
    assert extras[0] in EXPECTED  # ... and is one the dry-run test proves resolvable
    assert "pip install flash-attn --no-build-isolation" in message
