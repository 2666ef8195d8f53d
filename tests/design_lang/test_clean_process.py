"""A design runs in a fresh interpreter the way the runtime will run it (stub transport)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "dialect_ensemble_vote.py"

DRIVER = r'''
import json, sys
from verl_metaagent.design import _transport, api
from verl_metaagent.design.workflow import install_alias
from verl_metaagent.design.reference import load_reference

log = []
replies = iter(["\\boxed{7}", "\\boxed{8}", "\\boxed{7}", "judge: \\boxed{7}", "solo \\boxed{3}"])
def request(op, payload):
    log.append([op, payload.get("agent") or payload.get("answer")])
    return {"text": next(replies)} if op == "ask" else {}
_transport.request = request

def run(code):
    api.configure(question="Q", task_type="math")
    install_alias()
    try:
        exec(compile(code, "<design>", "exec"), api.script_globals())
    except SystemExit as exc:
        assert exc.code == 0

run(open(sys.argv[1]).read())
run(load_reference("single_agent"))
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("verl", "torch", "ray"))
print(json.dumps({"log": log, "bad": bad}))
'''


def test_fresh_interpreter_runs_dialect_and_api_designs():
    out = subprocess.run([sys.executable, "-c", DRIVER, str(FIXTURE)], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["bad"] == []
    assert result["log"] == [
        ["ask", "ForwardSolver"], ["ask", "BackwardSolver"], ["ask", "CasesSolver"], ["ask", "Judge"],
        ["final", "judge: \\boxed{7}"],
        ["ask", "Solver"], ["final", "3"],
    ]
