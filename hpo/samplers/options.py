"""Sampler option values checked against the constructor's annotations.

A sampler's options come from a config file (YAML: numbers, strings, booleans,
lists, mappings, null) and are stored in the study settings as JSON. Many
constructors (Optuna's in particular) accept any value and fail only when they
first use it, which would be at the first ``ask`` of a study already written
to the store. :func:`check_option_types` reads the annotations of the
constructor (strings such as ``"int | None"``; they need not be importable)
and rejects a value of the wrong type before anything is built or stored.

Rules, per member of a ``|`` union: ``int`` (not a bool; within 64 bits, as the
store keeps JSON), ``float`` (an int or float, finite, not a bool), ``bool``
(only ``True``/``False``), ``str``, ``None``, ``dict``/``Mapping`` (a mapping),
``list``/``Sequence``/``tuple`` (a list or tuple), ``Any`` (anything),
``Callable`` (a callable); any other name is a Python object (a sampler, a
crossover, trials) that no config value (number, string, list, mapping)
can be.
"""

from __future__ import annotations

import inspect
import math
import numbers
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from hpo.errors import SamplerError

__all__ = ["check_option_types"]

_INT_LIMIT = 2**63
_JSON_TYPES = (str, int, float, bool, list, tuple, dict)
_MAX_SHOWN = 80
_MAPPINGS = ("dict", "Mapping", "MutableMapping")
_SEQUENCES = ("list", "Sequence")


def _split(text: str, sep: str) -> list[str]:
    """``"dict[str, Any] | None"`` split at ``|`` -> ``["dict[str, Any]", "None"]`` (``sep`` outside brackets only)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _members(annotation: Any) -> list[tuple[str, str]] | None:
    """The union members of an annotation as ``(bare name, arguments)``: ``"dict[str, Any] | None"`` ->
    ``[("dict", "str, Any"), ("None", "")]``; None: unannotated."""
    if annotation is inspect.Parameter.empty:
        return None
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", None) or repr(annotation)
    text = re.sub(r"^(typing\.)?Optional\[(.*)\]$", r"\2 | None", text.strip())
    out = []
    for part in _split(text, "|"):
        base, _, args = part.partition("[")
        out.append((base.strip().rsplit(".", 1)[-1], args[:-1] if args.endswith("]") else ""))  # typing.Any
    return out


def _fits(members: list[tuple[str, str]], value: Any) -> bool:
    return any(_matches(kind, args, value) for kind, args in members)


def _matches(kind: str, args: str, value: Any) -> bool:
    """Whether ``value`` fits one union member (``kind[args]``); list items and mapping values are checked too."""
    if kind == "Any":
        return True
    if kind == "None":
        return value is None
    if kind == "bool":
        return isinstance(value, (bool, np.bool_))
    if kind == "int":
        return (isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
                and -_INT_LIMIT <= value < _INT_LIMIT)
    if kind == "float":
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            return False
        try:
            return math.isfinite(value)
        except OverflowError:  # an int beyond the float range
            return False
    if kind == "str":
        return isinstance(value, str)
    if kind in _MAPPINGS:
        if not isinstance(value, Mapping):
            return False
        key_value = _split(args, ",")
        if len(key_value) != 2:
            return True
        keys, values = (_members(a) or [("Any", "")] for a in key_value)
        return all(_fits(keys, k) and _fits(values, v) for k, v in value.items())
    if kind in _SEQUENCES:
        if not isinstance(value, (list, tuple)):
            return False
        items = _members(args) if args and len(_split(args, ",")) == 1 else None
        return items is None or all(_fits(items, v) for v in value)
    if kind == "tuple":
        return isinstance(value, (list, tuple))
    if kind == "Callable":
        return callable(value) and not isinstance(value, type)
    return value is not None and not isinstance(value, _JSON_TYPES)  # a Python object of some class


def _mismatch(members: list[tuple[str, str]], value: Any, path: str) -> tuple[str, list[str], Any] | None:
    """None if ``value`` fits; else ``(path, expected kinds, value)`` of the innermost item that does not
    (``ref_point['a']`` when a mapping of numbers holds a string)."""
    if _fits(members, value):
        return None
    for kind, args in members:
        parts = _split(args, ",")
        if kind in _MAPPINGS and isinstance(value, Mapping) and len(parts) == 2:
            keys, values = (_members(a) or [("Any", "")] for a in parts)
            for k, v in value.items():
                if not _fits(keys, k):
                    return f"{path} key", [kk for kk, _ in keys], k
                inner = _mismatch(values, v, f"{path}[{k!r}]")
                if inner is not None:
                    return inner
        if kind in _SEQUENCES and isinstance(value, (list, tuple)) and len(parts) == 1:
            items = _members(parts[0]) or [("Any", "")]
            for i, v in enumerate(value):
                inner = _mismatch(items, v, f"{path}[{i}]")
                if inner is not None:
                    return inner
    return path, [kind for kind, _ in members], value


def _describe(kinds: list[str]) -> str:
    words = {"int": "an integer (64-bit)", "float": "a finite number", "bool": "true or false", "str": "a string",
             "None": "null", "dict": "a mapping", "Mapping": "a mapping", "list": "a list", "tuple": "a list",
             "Sequence": "a list", "Callable": "a Python callable (not a config value)"}
    return " or ".join(dict.fromkeys(words.get(k, f"a Python {k} object (not a config value)") for k in kinds))


def check_option_types(owner: str, constructor: Callable[..., Any], options: Mapping[str, Any],
                       skip: tuple[str, ...] = ("self",)) -> None:
    """Raise :class:`SamplerError` for an option whose value does not fit the constructor's annotation.

    Args:
        owner: the sampler name used in the message (``"tpe"``).
        constructor: the callable whose parameters describe the options (e.g. ``TPESampler.__init__``).
        options: option name -> value; names the constructor lacks, and unannotated
            parameters, are left to the caller.
        skip: parameter names not to check.
    """
    parameters = inspect.signature(constructor).parameters
    for name, value in options.items():
        param = parameters.get(name) if isinstance(name, str) else None
        if param is None or name in skip:
            continue
        members = _members(param.annotation)
        found = _mismatch(members, value, name) if members else None
        if found is None:
            continue
        path, kinds, bad = found
        shown = _short(bad)
        raise SamplerError(f"{owner}: option {path} must be {_describe(kinds)} "
                           f"(annotation {param.annotation}), but got {shown} ({type(bad).__name__})")


def _short(value: Any) -> str:
    try:
        shown = repr(value)
    except ValueError:  # an int too long to print
        return f"an integer of {value.bit_length()} bits"
    return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 3] + "..."
