"""The sandbox's process-wide settings: one dataclass, read from a config mapping and the environment.

The sandbox reads its knobs from environment variables (they reach every rollout worker and
grader process a launcher starts). A trainer config section (``metaagent.sandbox``) maps to the
same settings through :func:`settings_from_config`, with the environment variables overriding it;
:meth:`SandboxSettings.to_environ` gives the variables that make the result effective in a
process. Pure: no I/O, nothing read implicitly (host checks such as "the jail path exists" happen
when a run uses the setting).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Any, Mapping, Optional

#: ``zygote`` (default) or ``spawn``: how children start (docs/sandbox.md).
MODE_ENV = "VERL_METAAGENT_SANDBOX_MODE"
#: ``0`` turns the file-system jail off (default on where the kernel allows it).
JAIL_ENV = "VERL_METAAGENT_SANDBOX_JAIL"
#: More host directories to show in the jail, ``:``-separated absolute paths (e.g. ``/nix`` where the
#: interpreter's libraries live outside its prefix). Never list data, checkpoints or homes here.
JAIL_PATHS_ENV = "VERL_METAAGENT_SANDBOX_JAIL_PATHS"
#: Where design executions make their work dirs; empty = the system temp dir; unset = automatic.
WORKDIR_ENV = "VERL_METAAGENT_SANDBOX_WORKDIR"

MODES = ("zygote", "spawn")
#: ``design_work_root`` value: ``/dev/shm`` when it is a world-writable tmpfs, else the system temp dir.
AUTO = "auto"

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class SandboxSettings:
    """Process-wide sandbox settings (limits are per call: :class:`~metaagent_sandbox.SandboxLimits`).

    Attributes:
        mode: ``"zygote"`` (children forked from a warm fork-server) or ``"spawn"`` (a fresh
            interpreter per run); ``VERL_METAAGENT_SANDBOX_MODE``.
        jail: build the file-system jail where the kernel allows it; ``VERL_METAAGENT_SANDBOX_JAIL``.
        jail_paths: extra host directories shown (read-only as far as the run's uid goes) in the
            jail: absolute, not ``/``; ``VERL_METAAGENT_SANDBOX_JAIL_PATHS``.
        design_work_root: where design executions make their throw-away work dirs: ``"auto"``
            (``/dev/shm`` when it is a tmpfs), ``""`` (the system temp dir) or an absolute path;
            ``VERL_METAAGENT_SANDBOX_WORKDIR``.
    """

    mode: str = "zygote"
    jail: bool = True
    jail_paths: tuple = ()
    design_work_root: str = AUTO

    def to_environ(self) -> dict:
        """The environment variables that give a process these settings (``os.environ.update``
        them before its first run; ``design_work_root="auto"`` is the absence of its variable)."""
        env = {MODE_ENV: self.mode, JAIL_ENV: "1" if self.jail else "0", JAIL_PATHS_ENV: ":".join(self.jail_paths)}
        if self.design_work_root != AUTO:
            env[WORKDIR_ENV] = self.design_work_root
        return env


#: Config keys (the field names) and the environment variable that overrides each.
OVERRIDES = {"mode": MODE_ENV, "jail": JAIL_ENV, "jail_paths": JAIL_PATHS_ENV, "design_work_root": WORKDIR_ENV}


def _mode(value: Any, where: str) -> str:
    mode = str(value).strip().lower() if isinstance(value, str) else value
    if mode not in MODES:
        raise ValueError(f"{where}={value!r}: expected one of {MODES}")
    return mode


def _flag(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, (str, int)) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{where}={value!r}: expected true/false (or 1/0)")


def check_jail_path(path: str, where: str) -> str:
    """``path`` if it may be shown in the jail: absolute and not ``/`` (which would show the whole
    host). Whether it exists is checked when a run builds the jail.

    Raises:
        ValueError: naming ``where`` (the key or variable that gave it) and what to change.
    """
    if not isinstance(path, str) or not os.path.isabs(path):
        raise ValueError(f"{where}: {path!r} is not an absolute path to an existing directory")
    if os.path.normpath(path) == "/":
        raise ValueError(f"{where}: '/' would show the whole host; list the directories the runs need")
    return path


def _jail_paths(value: Any, where: str) -> tuple:
    items = [p for p in value.split(":") if p] if isinstance(value, str) else value
    if not isinstance(items, Sequence):  # a list, a tuple, an OmegaConf ListConfig
        raise ValueError(f"{where}={value!r}: expected a list of absolute paths (or a ':'-separated string)")
    return tuple(check_jail_path(p, where) for p in items)


def _work_root(value: Any, where: str) -> str:
    if value is None or value == AUTO:
        return AUTO
    if not isinstance(value, str) or (value and not os.path.isabs(value)):
        raise ValueError(f"{where}={value!r}: expected 'auto', '' (the system temp dir) or an absolute path")
    return value


_PARSERS = {"mode": _mode, "jail": _flag, "jail_paths": _jail_paths, "design_work_root": _work_root}


def settings_from_config(
    options: Optional[Mapping[str, Any]], environ: Mapping[str, str], *, where: str = "metaagent.sandbox"
) -> SandboxSettings:
    """The sandbox settings of a config mapping (``options``, e.g. the ``metaagent.sandbox`` section)
    with the environment variables of ``environ`` overriding it (pass ``os.environ``; ``{}`` for
    none). Keys are :class:`SandboxSettings`' fields; missing keys keep their defaults; an empty
    ``VERL_METAAGENT_SANDBOX_MODE`` / ``_JAIL`` / ``_JAIL_PATHS`` counts as unset (an empty
    ``_WORKDIR`` means the system temp dir, as it always did).

    Raises:
        ValueError: an unknown key (named, with the allowed ones) or a bad value, naming the key
            (``where.key``) or the environment variable it came from.
    """
    options = dict(options or {})
    unknown = sorted(set(options) - set(OVERRIDES))
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {unknown}; allowed: {sorted(OVERRIDES)}")
    values = {}
    for key, parse in _PARSERS.items():
        variable = OVERRIDES[key]
        raw = environ.get(variable)
        if raw is not None and (raw.strip() or key == "design_work_root"):
            values[key] = parse(raw, variable)
        elif key in options:
            values[key] = parse(options[key], f"{where}.{key}")
    return SandboxSettings(**values)


def settings_from_environ(environ: Mapping[str, str]) -> SandboxSettings:
    """:func:`settings_from_config` of no options: what a process's environment says."""
    return settings_from_config({}, environ, where="sandbox")

