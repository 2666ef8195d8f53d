"""The program of a design's sandboxed child: :func:`main`, run by the sandbox after its drop.

The runtime preloads this module with the design API, the ``workflow`` dialect and the modules a
design may import (importing it only defines :func:`main`), and gives the sandbox a two-line
program that calls it (``runtime._DESIGN_PROGRAM``): a child compiles that, not this file.
:func:`main` runs after the sandbox's isolation and privilege drop, in the run's work dir, with
``sys.argv = ["main", <channel read fd>, <channel write fd>]``; nothing here reads the plugin's
files. It connects the API to the channel, reads the task (``task.json``) and the script
(``design.py``) from the work dir and runs the script with the API's globals; the parent reads the
answer from the channel only.
"""

import json
import sys

import verl_metaagent.design._transport as _transport
import verl_metaagent.design.api as _api
from verl_metaagent.design import workflow as _workflow


def main() -> None:
    """Connect the channel, read the task and the script, run the script."""
    _workflow.install_alias()
    _transport.connect(int(sys.argv[1]), int(sys.argv[2]))
    with open("task.json", encoding="utf-8") as f:
        task = json.load(f)
    with open("design.py", encoding="utf-8") as f:
        source = f.read()
    _api.configure(question=task["question"], task_type=task["task_type"], public_tests=task.get("public_tests"))
    try:
        exec(compile(source, "design.py", "exec"), _api.script_globals())
    except SystemExit:
        pass

