"""The program of a design's sandboxed child (read as text by :mod:`.runtime`, run by the sandbox).

It runs after the sandbox's isolation and privilege drop, as ``__main__`` in the run's work dir,
with ``sys.argv = ["main", <channel read fd>, <channel write fd>]``. The design API, the
``workflow`` dialect and the modules a design may import are already imported (the runtime's
preload), so nothing here reads the plugin's files. It connects the API to the channel, reads the
task (``task.json``) and the script (``design.py``) from the work dir and runs the script with
the API's globals; the parent reads the answer from the channel only.
"""

import json
import sys

import verl_metaagent.design._transport as _transport
import verl_metaagent.design.api as _api
from verl_metaagent.design import workflow as _workflow


def _main() -> None:
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


if __name__ == "__main__":
    _main()
