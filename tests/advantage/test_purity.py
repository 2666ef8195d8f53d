"""core.py and phases.py import no torch / verl / ray (design rule: pure functions on arrays and steps)."""

import subprocess
import sys


def test_pure_modules_import_no_heavy_deps():
    code = (
        "import sys\n"
        "import verl_metaagent.advantage.core, verl_metaagent.phases, verl_metaagent.config.schema\n"
        "bad = [m for m in ('torch', 'verl', 'ray') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
