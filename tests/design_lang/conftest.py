"""Helpers: run a design in-process against a scripted transport stub (no sandbox, no LLM)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import pytest

import verl_metaagent.design.workflow as workflow_pkg
import verl_metaagent.design.workflow.core as workflow_core
import verl_metaagent.design.workflow.nodes as workflow_nodes
from verl_metaagent.design import _transport, api
from verl_metaagent.design.workflow.release_imports import _design_import


@dataclass
class Stub:
    """Scripted transport: ``replies`` answer ``ask`` in order (a callable gets the payload);
    ``test_replies`` answer ``run_tests`` in order; every request is recorded in ``calls``."""

    replies: list = field(default_factory=list)
    test_replies: list = field(default_factory=list)
    calls: list = field(default_factory=list)
    finals: list = field(default_factory=list)

    def __call__(self, op: str, payload: dict) -> dict:
        self.calls.append((op, payload))
        if op == "ask":
            if not self.replies:
                raise AssertionError(f"unexpected ask by {payload['agent']}")
            r = self.replies.pop(0)
            return {"text": r(payload) if callable(r) else r}
        if op == "run_tests":
            if not self.test_replies:
                raise AssertionError("unexpected run_tests")
            r = self.test_replies.pop(0)
            return r(payload) if callable(r) else r
        if op == "final":
            self.finals.append(payload["answer"])
            return {}
        raise AssertionError(f"unknown op {op}")

    @property
    def asked(self) -> list:
        """Agent names of the ask calls, in order."""
        return [p["agent"] for op, p in self.calls if op == "ask"]

    def ask_payloads(self) -> list:
        return [p for op, p in self.calls if op == "ask"]


@pytest.fixture
def stub(monkeypatch):
    s = Stub()
    monkeypatch.setattr(_transport, "request", s)
    return s


@pytest.fixture
def run_design(stub, monkeypatch):
    """Run ``code`` as the runtime would: configure the API, alias ``workflow``, inject globals."""
    for name in ("workflow", "workflow.nodes", "workflow.core", "utils", "utils.environments",
                 "utils.environments.math_env", "utils.environments.search_env"):
        monkeypatch.setitem(sys.modules, name, None)  # recorded, so the alias is undone after the test
    workflow_pkg.install_alias()
    assert sys.modules["workflow.nodes"] is workflow_nodes and sys.modules["workflow.core"] is workflow_core

    def run(code: str, question: str = "Q?", task_type: str = "math", replies=(), test_replies=(),
            public_tests=None) -> Stub:
        stub.calls.clear()
        stub.finals.clear()
        stub.replies[:] = list(replies)
        stub.test_replies[:] = list(test_replies)
        api.configure(question=question, task_type=task_type, public_tests=public_tests)
        glb = api.script_globals()
        design_builtins = glb.pop("__builtins__")
        assert glb == {"__name__": "__design__", "question": question, "task_type": task_type}
        assert design_builtins["__import__"] is _design_import  # `import os` / `import sys` bind stand-ins
        glb["__builtins__"] = design_builtins
        try:
            exec(compile(code, "<design>", "exec"), glb)
        except SystemExit as exc:
            assert exc.code in (0, None)
        assert stub.replies == [], f"unused replies: {stub.replies}"
        return stub

    return run
