"""Typed hyperparameter dataclasses <-> JSON, and settings from the command line.

``--config FILE.json`` and repeatable ``--set key=value`` (dotted for nested settings, e.g.
``train.batch_size=256``) are checked against the dataclass: an unknown key or a value of the wrong type
is one :class:`~biogan.errors.ConfigError` that names it.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import numbers
import os
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from biogan.errors import ConfigError

T = TypeVar("T")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) dataclass."""
    return dataclasses.asdict(config)


def config_from_dict(cls: type[T], values: Mapping[str, Any], prefix: str = "") -> T:
    """Rebuild ``cls`` from a (partial) dict, restoring nested dataclasses and checking every value.

    Raises
    ------
    ConfigError
        An unknown key, a value of the wrong type, or one the dataclass itself rejects.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(_unknown_message([prefix + k for k in unknown], cls, prefix))
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                value = config_to_dict(value)
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"setting {prefix}{name} is a group of settings; use {prefix}{name}.<key>=..."
                )
            base = config_to_dict(fields[name].default_factory())  # type: ignore[misc]
            value = config_from_dict(hint, {**base, **value}, f"{prefix}{name}.")
        else:
            value = _coerce(value, hint, prefix + name)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"bad settings for {cls.__name__}: {err}") from None


def apply_overrides(config: T, overrides: Mapping[str, Any]) -> T:
    """``config`` with fields replaced; dotted keys reach nested settings, and a plain name that is not
    a top-level field but a field of the nested ``train`` settings goes there (``n_critic=3``)."""
    if not overrides:
        return config
    values = config_to_dict(config)
    for key, value in overrides.items():
        path = key.split(".")
        if len(path) == 1 and key not in values and key in values.get("train", {}):
            path = ["train", key]
        target = values
        for part in path[:-1]:
            if not isinstance(target.get(part), dict):
                raise ConfigError(_unknown_message([key], type(config)))
            target = target[part]
        target[path[-1]] = value
    return config_from_dict(type(config), values)


def parse_settings(items: Iterable[str]) -> dict[str, Any]:
    """``["train.batch_size=256", "noise_dim=32"]`` -> ``{"train.batch_size": 256, "noise_dim": 32}``.

    Values are read as JSON (numbers, ``true``/``false``, ``[256, 512]``); anything else is a string.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"cannot read --set {item!r}: write key=value, e.g. --set train.batch_size=256")
        out[key.strip()] = _json_or_text(text)
    return out


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Settings from a JSON file: a dict of settings, or a saved model's ``config.json`` (its ``config``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"cannot read config file {path}: {err}") from None
    if isinstance(data, dict) and isinstance(data.get("config"), dict) and "model" in data:
        data = data["config"]  # a saved model's config.json: reproduce that run
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a JSON object of settings")
    return data


def settings_from_cli(cls: type[T], config_file: str | os.PathLike | None, items: Iterable[str]) -> T:
    """The ``cls`` settings of ``--config FILE`` (if any) with every ``--set key=value`` applied."""
    config = config_from_dict(cls, read_config_file(config_file)) if config_file else cls()
    return apply_overrides(config, parse_settings(items))


def _coerce(value: Any, hint: Any, name: str) -> Any:
    """``value`` as the type ``hint`` names (ints for floats, lists for tuples), or a ConfigError."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _coerce(value, option, name)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"setting {name} cannot be {value!r}")
    if dataclasses.is_dataclass(hint) and dataclasses.is_dataclass(value):
        return value
    if origin is tuple:
        return _coerce_tuple(value, typing.get_args(hint), name)
    if hint is bool:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, (bool, np.bool_)):
            raise ConfigError(f"setting {name} takes true or false; got {value!r}")
        return bool(value)
    if hint is int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise ConfigError(f"setting {name} takes an integer; got {value!r}")
        return int(value)
    if hint is float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise ConfigError(f"setting {name} takes a number; got {value!r}")
        return float(value)
    if hint is str and not isinstance(value, str):
        raise ConfigError(f"setting {name} takes text; got {value!r}")
    return value


def _coerce_tuple(value: Any, args: tuple, name: str) -> tuple:
    """A list (or ``"256,512"``) as the tuple ``tuple[int, ...]`` or ``tuple[int, int]`` names."""
    if isinstance(value, str):
        value = [_json_or_text(v.strip()) for v in value.strip("()[] ").split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"setting {name} takes a list, e.g. [256, 512]; got {value!r}")
    if args and args[-1] is not Ellipsis and len(value) != len(args):
        raise ConfigError(f"setting {name} takes {len(args)} values; got {len(value)}")
    inner = [args[0]] * len(value) if args and args[-1] is Ellipsis else (args or [Any] * len(value))
    return tuple(_coerce(v, h, name) for v, h in zip(value, inner, strict=True))


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _unknown_message(keys: list[str], cls: type, prefix: str = "") -> str:
    """'unknown setting x (did you mean y?); known: ...' for the top-level class of the settings."""
    known = _setting_names(cls, prefix)
    hints = []
    for key in keys:
        close = difflib.get_close_matches(key, known, n=1) or difflib.get_close_matches(
            key.rpartition(".")[2], [k.rpartition(".")[2] for k in known], n=1
        )
        hints.append(f"{key} (did you mean {close[0]}?)" if close else key)
    return f"unknown setting {', '.join(hints)}; known settings: {', '.join(known)}"


def _setting_names(cls: type, prefix: str = "") -> list[str]:
    hints = typing.get_type_hints(cls)
    names = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            names += _setting_names(hints[f.name], f"{prefix}{f.name}.")
        else:
            names.append(prefix + f.name)
    return names
