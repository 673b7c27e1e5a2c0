"""Settings of calculations as frozen dataclasses: one description per parameter for the Python API,
the task runner and the CLI.

A settings class declares each parameter with :func:`setting` (default, help text with units, range,
choices) and calls :func:`validate` from ``__post_init__``::

    @dataclass(frozen=True, kw_only=True)
    class RelaxSettings:
        fmax: float = setting(0.05, help="Largest force at convergence (eV/Å).", unit="eV/Å",
                              minimum=0, exclusive_minimum=True)

        def __post_init__(self) -> None:
            validate(self)

Supported field types: ``int``, ``float``, ``bool``, ``str``, ``tuple[X, ...]`` and ``tuple[X, Y]`` of
those, each optionally ``| None``. :func:`settings_from_mapping` builds an instance from a parsed YAML
mapping (a spec's task parameters), :func:`apply_overrides` from keyword arguments of a function.
Declaring a settings class imports no numpy (the CLI's ``--help`` builds options from these classes);
validating an instance does, for numpy arrays and scalars given as values.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from functools import cache
from typing import Any, TypeVar

from ssbkit.errors import InputError

REQUIRED = dataclasses.MISSING  # default of a setting that has none: it must be given

Settings = TypeVar("Settings")


def setting(default: Any, *, help: str, unit: str | None = None, minimum: float | None = None,
            maximum: float | None = None, exclusive_minimum: bool = False,
            choices: tuple | None = None) -> Any:
    """A dataclass field with its help text, unit, allowed range (``minimum``, excluded when
    ``exclusive_minimum``; ``maximum`` included) and allowed ``choices`` in ``metadata``.
    ``default`` must be immutable (a tuple, not a list); ``REQUIRED`` for none."""
    metadata = {"help": help, "unit": unit, "minimum": minimum, "maximum": maximum,
                "exclusive_minimum": exclusive_minimum, "choices": tuple(choices) if choices is not None else None}
    return dataclasses.field(default=default, metadata=metadata)


def validate(settings: Any) -> None:
    """Check every field of a settings instance against its type, range and choices; InputError naming
    the field, the value and what is allowed. Values are normalised in place (lists to tuples, ints
    to floats for float fields, integral floats to ints for int fields)."""
    hints = _type_hints(type(settings))
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        try:
            checked = _checked(field.name, hints[field.name], value, field.metadata, text_numbers=False)
        except InputError as exc:
            raise InputError(f"{type(settings).__name__}: {exc}") from None
        if checked is not value:
            object.__setattr__(settings, field.name, checked)


def settings_from_mapping(cls: type[Settings], mapping: dict[str, Any], where: str) -> Settings:
    """An instance of the settings class ``cls`` from a parsed YAML mapping, as InputError prefixed by
    ``where`` for unknown or missing names and invalid values. YAML-ish coercion: a list is a tuple,
    an int a float, and a numeric string such as ``1e-3`` (which YAML 1.1 reads as text) a number."""
    if not isinstance(mapping, dict):
        raise InputError(f"{where}: parameters are a mapping of names to values, not {mapping!r}")
    fields = dataclasses.fields(cls)
    names = [field.name for field in fields]
    if unknown := set(mapping) - set(names):
        raise InputError(f"{where}: unknown parameters {sorted(map(str, unknown))}; "
                         f"it takes parameters {', '.join(names) or '(none)'}")
    required = {field.name for field in fields
                if field.default is REQUIRED and field.default_factory is dataclasses.MISSING}
    if missing := required - set(mapping):
        raise InputError(f"{where}: missing parameters {sorted(missing)}")
    hints = _type_hints(cls)
    values = {}
    for field in fields:
        if field.name in mapping:
            try:
                values[field.name] = _checked(field.name, hints[field.name], mapping[field.name], field.metadata,
                                              text_numbers=True)
            except InputError as exc:
                raise InputError(f"{where}: {exc}") from None
    return cls(**values)


def apply_overrides(cls: type[Settings], settings: Settings | None, overrides: dict[str, Any]) -> Settings:
    """``settings`` (``cls()`` when None) with keyword ``overrides`` replacing fields; TypeError for a
    name that is not a field of ``cls`` (as for an unknown keyword argument)."""
    names = {field.name for field in dataclasses.fields(cls)}
    if unknown := set(overrides) - names:
        raise TypeError(f"unexpected keyword arguments {sorted(unknown)}; {cls.__name__} fields are {sorted(names)}")
    if settings is None:
        return cls(**overrides)
    if not isinstance(settings, cls):
        raise TypeError(f"settings must be {cls.__name__}, not {type(settings).__name__}")
    return dataclasses.replace(settings, **overrides) if overrides else settings


@cache
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_text(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if arg is type(None) else _type_text(arg) for arg in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a non-empty list (each {_type_text(args[0])})"
        return f"a list of {len(args)} ({', '.join(_type_text(arg) for arg in args)})"
    return "finite float" if annotation is float else annotation.__name__


class _WrongType(InputError):
    """A value of the wrong type, or NaN/inf, or a fraction for an int (re-raised with the whole
    annotation for ``X | None`` fields)."""


def _checked(name: str, annotation: Any, value: Any, metadata: Any, text_numbers: bool) -> Any:
    """``value`` normalised to ``annotation``, range and choices checked; InputError ``name = value: ...``."""
    import numpy as np

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = (arg for arg in args if arg is not type(None))
        try:
            return _checked(name, inner, value, metadata, text_numbers)
        except _WrongType:
            raise _WrongType(_expected(name, value, annotation, metadata)) from None
    if origin is tuple:
        if not isinstance(value, (list, tuple, np.ndarray)):
            raise _WrongType(_expected(name, value, annotation, metadata))
        variadic = len(args) == 2 and args[1] is Ellipsis
        if (variadic and len(value) == 0) or (not variadic and len(value) != len(args)):
            raise InputError(_expected(name, value, annotation, metadata))
        item_types = [args[0]] * len(value) if variadic else args
        return tuple(_checked(f"{name}[{i}]", item_type, item, metadata, text_numbers)
                     for i, (item_type, item) in enumerate(zip(item_types, value)))
    checked = _scalar(name, annotation, value, metadata, text_numbers)
    _check_range(name, checked, value, metadata)
    return checked


def _expected(name: str, value: Any, annotation: Any, metadata: Any) -> str:
    """``name = value: expected <type> <range> <unit>``."""
    import numpy as np

    shown = value.tolist() if isinstance(value, np.ndarray) else value
    allowed = " ".join(filter(None, [_type_text(annotation), _range_text(metadata)]))
    return f"{name} = {shown!r}: expected {allowed}"


def _range_text(metadata: Any) -> str:
    """``> 0 eV/Å``, ``>= 1``, ``>= 0 and <= 1``: the range and unit of a setting ('' if neither)."""
    minimum, maximum = metadata.get("minimum"), metadata.get("maximum")
    bounds = [f"{'>' if metadata.get('exclusive_minimum') else '>='} {minimum:g}"] if minimum is not None else []
    bounds += [f"<= {maximum:g}"] if maximum is not None else []
    return " ".join(filter(None, [" and ".join(bounds), metadata.get("unit")]))


def _scalar(name: str, annotation: Any, value: Any, metadata: Any, text_numbers: bool) -> Any:
    import numpy as np

    expected = _expected(name, value, annotation, metadata)
    if annotation is bool:
        if not isinstance(value, (bool, np.bool_)):
            raise _WrongType(expected)
        return bool(value)
    if annotation is str:
        if not isinstance(value, str):
            raise _WrongType(expected)
        return value
    if annotation not in (int, float):
        raise TypeError(f"setting {name}: unsupported type {annotation!r}")
    number = value
    if text_numbers and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise _WrongType(expected) from None
    if isinstance(number, (bool, np.bool_)) or not isinstance(number, numbers.Real):
        raise _WrongType(expected)
    if not math.isfinite(number):
        raise _WrongType(expected)
    if annotation is float:
        return value if type(value) is float else float(number)
    if isinstance(number, numbers.Integral):
        return value if type(value) is int else int(number)
    if not float(number).is_integer():
        raise _WrongType(expected)
    return int(number)


def _check_range(name: str, value: Any, given: Any, metadata: Any) -> None:
    """Choices and range of a normalised scalar ``value``; the message shows the ``given`` one."""
    choices = metadata.get("choices")
    if choices is not None and value not in choices:
        raise InputError(f"unknown {name} {given!r}; choose from {', '.join(map(str, choices))}")
    minimum, maximum = metadata.get("minimum"), metadata.get("maximum")
    too_low = minimum is not None and (value <= minimum if metadata.get("exclusive_minimum") else value < minimum)
    if too_low or (maximum is not None and value > maximum):
        raise InputError(f"{name} = {given!r} is out of range: expected {_range_text(metadata)}")
