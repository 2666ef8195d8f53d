"""``reward_fns`` is stand-alone: importing it and grading (math and code, the code in the sandbox) runs
nothing of the plugin -- no ``verl_metaagent`` import (whose package import installs the post-import hook
of ``verl_metaagent._lazy_registration``) and no verl / torch / ray.

Each check runs in a fresh interpreter, so this test process's own imports cannot hide a leak.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

_PROBE = r"""
import json, sys
import reward_fns

math = reward_fns.grade("math/polaris", "so the answer is \\boxed{\\frac{3}{4}}", "0.75")
tests = json.dumps({"inputs": ["2 3\n"], "outputs": ["5\n"]})
code = reward_fns.grade("code/apps", "```python\na, b = map(int, input().split())\nprint(a + b)\n```", tests)
wrong = reward_fns.grade("code/apps", "```python\nprint(0)\n```", tests)
print(json.dumps({
    "scores": [math.score, code.score, wrong.score],
    "heavy": sorted({m.split(".")[0] for m in sys.modules} & {"verl", "torch", "ray"}),
    "plugin": sorted(m for m in sys.modules if m == "verl_metaagent" or m.startswith("verl_metaagent.")),
    "hooks": [f"{type(f).__module__}.{type(f).__qualname__}" for f in sys.meta_path
              if type(f).__module__.startswith("verl_metaagent")],
}))
"""


def _probe(code: str, cwd: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_and_grading_loads_no_plugin_hook_and_no_verl_torch_or_ray(tmp_path):
    # cwd outside the repository: the installed packages are used, as in a user's process or a Ray worker
    out = _probe(_PROBE, str(tmp_path))
    assert out["scores"] == [1.0, 1.0, 0.0]
    assert out["heavy"] == []
    assert out["hooks"] == []  # the plugin's post-import finder is not on sys.meta_path
    assert out["plugin"] == []


def test_the_probe_sees_the_hook_when_the_plugin_is_imported(tmp_path):
    """The detection above is real: importing the plugin puts its finder on ``sys.meta_path``."""
    out = _probe("import verl_metaagent\n" + _PROBE, str(tmp_path))
    assert out["hooks"] == ["verl_metaagent._lazy_registration._PostImportFinder"]
    assert "verl_metaagent" in out["plugin"]
