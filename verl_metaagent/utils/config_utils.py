"""Build validated config dataclasses from Hydra/OmegaConf nodes or plain dicts.

Every error names the full config key and says what to change, e.g.::

    ConfigError: metaagent.rollout.num_designs must be >= 1, got 0.
                 Fix: set metaagent.rollout.num_designs=4 (the paper's M).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A user config value is missing, unknown or out of range. The message names the key and the fix."""


def to_plain(node: Any) -> Any:
    """OmegaConf DictConfig/ListConfig -> plain python containers (other values unchanged)."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(node, (DictConfig, ListConfig)):
            return OmegaConf.to_container(node, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a hard dependency of verl
        pass
    return node


def build_dataclass(cls: type[T], data: Any, path: str) -> T:
    """Instantiate dataclass ``cls`` from ``data`` (mapping or None), recursing into nested dataclasses.

    Unknown keys raise :class:`ConfigError` listing the valid ones; values are type-coerced for
    int/float/bool/str fields. Range checks belong to the dataclass's ``__post_init__``/``validate``.
    """
    data = to_plain(data)
    if data is None:
        data = {}
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path} must be a mapping of options, got {type(data).__name__}: {data!r}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"Unknown key(s) {', '.join(path + '.' + k for k in unknown)}. "
            f"Valid keys under {path}: {', '.join(sorted(fields))}."
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{path}.{name}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return build_dataclass(hint, value, path)
    if origin is typing.Union or str(origin) == "types.UnionType":
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, path)
            except ConfigError:
                continue
        raise ConfigError(f"{path}={value!r} has the wrong type; expected {hint}.")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{path}={value!r} is not allowed. Choose one of: {', '.join(map(repr, args))}.")
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(f"{path}={value!r} must be true or false.")
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{path}={value!r} must be a number.")
        try:
            number = hint(value)
        except ValueError:
            raise ConfigError(f"{path}={value!r} must be a number.") from None
        if hint is int and float(value) != number:
            raise ConfigError(f"{path}={value!r} must be an integer.")
        return number
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}={value!r} must be a string.")
        return value
    if origin in (dict, Mapping) or hint in (dict, Any):
        return value
    if origin in (list, tuple):
        return list(value) if origin is list else tuple(value)
    return value


def section_loader(cls: type[T], default_path: str):
    """The loader of one config section: ``load(node, path=default_path) -> cls``, which builds ``cls`` from a
    config node / dict / None (defaults) with :func:`build_dataclass` and runs its ``validate(path)``.
    Each section's owner defines its loader with this (``config/`` only composes them)."""

    def load(node: Any, path: str = default_path) -> T:
        return build_dataclass(cls, node, path).validate(path)

    load.__doc__ = f"``{cls.__name__}`` of ``{default_path}`` from a config node / dict / None, validated."
    return load


def select_path(config: Any, dotted: str, default: Any = None) -> Any:
    """The value at ``dotted`` (``"a.b.c"``) in a nested config: mappings (``.get``) or attribute
    objects (dataclasses), mixed. ``default`` when a part is missing or the value is None."""
    node = config
    for part in dotted.split("."):
        if node is None:
            return default
        getter = getattr(node, "get", None)
        node = getter(part, None) if getter is not None else getattr(node, part, None)
    return default if node is None else node


def require(condition: bool, key: str, message: str, fix: str) -> None:
    """Raise :class:`ConfigError` ``"<key> <message>. Fix: <fix>"`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f"{key} {message}. Fix: {fix}")
