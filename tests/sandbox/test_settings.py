"""settings_from_config: a config section and the environment give the sandbox's settings."""

import os

import pytest

from metaagent_sandbox import SandboxSettings, settings_from_config
from metaagent_sandbox.settings import JAIL_ENV, JAIL_PATHS_ENV, MODE_ENV, WORKDIR_ENV, settings_from_environ


@pytest.fixture
def sandbox_mode():
    """Pure functions: one run each (overrides the both-modes fixture of conftest.py)."""
    return None


def test_defaults_from_nothing():
    assert settings_from_config({}, {}) == settings_from_config(None, {}) == SandboxSettings(
        mode="zygote", jail=True, jail_paths=(), design_work_root="auto")


def test_every_option_from_the_config():
    options = {"mode": "Spawn", "jail": False, "jail_paths": ["/nix", "/opt/tools"], "design_work_root": ""}
    assert settings_from_config(options, {}) == SandboxSettings("spawn", False, ("/nix", "/opt/tools"), "")


def test_environment_variables_override_the_config():
    options = {"mode": "spawn", "jail": True, "jail_paths": ["/nix"], "design_work_root": "/dev/shm"}
    environ = {MODE_ENV: "zygote", JAIL_ENV: "0", JAIL_PATHS_ENV: "/a:/b", WORKDIR_ENV: ""}
    assert settings_from_config(options, environ) == SandboxSettings("zygote", False, ("/a", "/b"), "")


def test_empty_variables_count_as_unset_but_an_empty_workdir_is_the_system_temp_dir():
    options = {"mode": "spawn", "jail": False, "jail_paths": ["/nix"], "design_work_root": "/dev/shm"}
    environ = {MODE_ENV: " ", JAIL_ENV: "", JAIL_PATHS_ENV: ""}
    assert settings_from_config(options, environ) == SandboxSettings("spawn", False, ("/nix",), "/dev/shm")
    assert settings_from_config(options, {WORKDIR_ENV: ""}).design_work_root == ""


@pytest.mark.parametrize("flag, value", [("1", True), ("true", True), ("ON", True), ("0", False), ("no", False),
                                         (True, True), (0, False)])
def test_jail_flags(flag, value):
    assert settings_from_config({"jail": flag}, {}).jail is value


@pytest.mark.parametrize(
    "options, environ, message",
    [
        ({"modee": "spawn", "jail": True}, {}, r"metaagent.sandbox: unknown option\(s\) \['modee'\]; "
                                                r"allowed: \['design_work_root', 'jail', 'jail_paths', 'mode'\]"),
        ({"mode": "fork"}, {}, r"metaagent.sandbox.mode='fork': expected one of \('zygote', 'spawn'\)"),
        ({}, {MODE_ENV: "fork"}, MODE_ENV + r"='fork': expected one of"),
        ({"jail": "maybe"}, {}, r"metaagent.sandbox.jail='maybe': expected true/false"),
        ({}, {JAIL_ENV: "2"}, JAIL_ENV + r"='2': expected true/false"),
        ({"jail_paths": ["/"]}, {}, r"metaagent.sandbox.jail_paths: '/' would show the whole host"),
        ({"jail_paths": ["relative/dir"]}, {}, r"metaagent.sandbox.jail_paths: 'relative/dir' is not an absolute path"),
        ({}, {JAIL_PATHS_ENV: "/ok:/"}, JAIL_PATHS_ENV + r": '/' would show the whole host"),
        ({"jail_paths": 5}, {}, r"metaagent.sandbox.jail_paths=5: expected a list of absolute paths"),
        ({"design_work_root": "shm"}, {}, r"metaagent.sandbox.design_work_root='shm': expected 'auto', ''"),
    ],
)
def test_bad_options_and_variables_are_named(options, environ, message):
    with pytest.raises(ValueError, match=message):
        settings_from_config(options, environ)


def test_an_omegaconf_section_is_read_as_it_comes():
    """The trainer's config is OmegaConf: a DictConfig section with a ListConfig of paths."""
    omegaconf = pytest.importorskip("omegaconf")
    section = omegaconf.OmegaConf.create({"sandbox": {"mode": "spawn", "jail_paths": ["/nix"]}}).sandbox
    assert settings_from_config(section, {}) == SandboxSettings("spawn", True, ("/nix",), "auto")


def test_where_names_the_config_section():
    with pytest.raises(ValueError, match=r"^cfg\.sandbox\.mode="):
        settings_from_config({"mode": "x"}, {}, where="cfg.sandbox")


@pytest.mark.parametrize("settings", [SandboxSettings(), SandboxSettings("spawn", False, ("/nix",), ""),
                                      SandboxSettings("zygote", True, (), "/dev/shm")])
def test_to_environ_gives_a_process_the_same_settings(settings):
    assert settings_from_environ(settings.to_environ()) == settings


def test_the_sandbox_reads_its_knobs_through_the_settings(monkeypatch, tmp_path):
    from metaagent_sandbox.hostdirs import memory_work_root
    from metaagent_sandbox.process import default_mode

    for key, value in SandboxSettings("spawn", True, (), str(tmp_path)).to_environ().items():
        monkeypatch.setenv(key, value)
    assert (default_mode(), memory_work_root()) == ("spawn", str(tmp_path))
    monkeypatch.setenv(WORKDIR_ENV, "")
    assert memory_work_root() is None
    monkeypatch.setenv(MODE_ENV, "bogus")
    with pytest.raises(ValueError, match=MODE_ENV):
        default_mode()
    assert os.environ[MODE_ENV] == "bogus"
