"""Check which heavy packages a piece of code imports, in a fresh interpreter (for "import is light" tests)."""

from __future__ import annotations

import subprocess
import sys
from typing import Sequence

HEAVY = ("torch", "verl", "ray")


def heavy_imports(statements: str, heavy: Sequence[str] = HEAVY) -> list[str]:
    """Run ``statements`` in a new Python process; return the top-level ``heavy`` packages it imported.

    Raises ``subprocess.CalledProcessError`` (with the child's stderr) if the statements fail.
    """
    code = (
        "import sys\n"
        + statements
        + "\nprint(','.join(sorted({m.split('.')[0] for m in sys.modules} & set(%r))))\n" % (list(heavy),)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        raise subprocess.CalledProcessError(out.returncode, "python -c", out.stdout, out.stderr)
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    return [m for m in last.split(",") if m]
