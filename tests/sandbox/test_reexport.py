"""``verl_metaagent.sandbox`` (the old name) is ``metaagent_sandbox``: the same module objects, so a setting
changed or a function patched under one name is seen under the other."""

from __future__ import annotations

import importlib
import pkgutil

import metaagent_sandbox
import verl_metaagent.sandbox as old_name

MODULES = sorted(m.name for m in pkgutil.iter_modules(metaagent_sandbox.__path__) if m.name != "_zygote_main")


def test_every_module_is_the_same_object_under_both_names():
    assert len(MODULES) >= 14
    for name in MODULES:
        assert importlib.import_module(f"verl_metaagent.sandbox.{name}") is importlib.import_module(
            f"metaagent_sandbox.{name}"), name
        assert getattr(old_name, name) is importlib.import_module(f"metaagent_sandbox.{name}"), name


def test_the_public_api_is_the_same():
    assert old_name.__all__ == metaagent_sandbox.__all__
    for name in metaagent_sandbox.__all__:
        assert getattr(old_name, name) is getattr(metaagent_sandbox, name), name
    from verl_metaagent.sandbox.hostdirs import memory_work_root  # what design/runtime.py imports

    assert memory_work_root is metaagent_sandbox.hostdirs.memory_work_root


def test_a_patch_under_the_old_name_is_seen_by_the_sandbox(monkeypatch):
    monkeypatch.setattr("verl_metaagent.sandbox.process.settings_from_environ", lambda: "patched")
    assert metaagent_sandbox.process.settings_from_environ() == "patched"
