"""Declared parameter schemas and their validation.

Strategies and training recipes declare their parameters with ``Param`` so the
same declaration validates API payloads, fills defaults, and documents itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workers.engine.errors import ConfigError

PARAM_TYPES = ("int", "float", "bool", "choice", "str")


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = field(default_factory=tuple)
    nullable: bool = False

    def describe(self) -> dict[str, Any]:
        description: dict[str, Any] = {"name": self.name, "type": self.type, "default": self.default, "help": self.help}
        if self.minimum is not None:
            description["minimum"] = self.minimum
            description["exclusive_minimum"] = self.exclusive_minimum
        if self.maximum is not None:
            description["maximum"] = self.maximum
        if self.choices:
            description["choices"] = list(self.choices)
        if self.nullable:
            description["nullable"] = True
        return description

    def coerce(self, value: Any, field_name: str) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise ConfigError(field_name, "may not be null")
        if self.type == "bool":
            if not isinstance(value, bool):
                raise ConfigError(field_name, f"must be a boolean, got {type(value).__name__}")
            return value
        if self.type == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(field_name, f"must be an integer, got {type(value).__name__}")
            self._check_range(value, field_name)
            return value
        if self.type == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(field_name, f"must be a number, got {type(value).__name__}")
            number = float(value)
            if number != number or number in (float("inf"), float("-inf")):
                raise ConfigError(field_name, "must be a finite number")
            self._check_range(number, field_name)
            return number
        if self.type in ("choice", "str"):
            if not isinstance(value, str):
                raise ConfigError(field_name, f"must be a string, got {type(value).__name__}")
            if self.choices and value not in self.choices:
                raise ConfigError(field_name, f"must be one of {', '.join(self.choices)}; got {value!r}")
            return value
        raise ConfigError(field_name, f"has an unknown declared type {self.type!r}")

    def _check_range(self, value: float, field_name: str) -> None:
        if self.minimum is not None:
            if self.exclusive_minimum and value <= self.minimum:
                raise ConfigError(field_name, f"must be greater than {self.minimum:g}")
            if not self.exclusive_minimum and value < self.minimum:
                raise ConfigError(field_name, f"must be at least {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(field_name, f"must be at most {self.maximum:g}")


def resolve(schema: tuple[Param, ...], values: Mapping[str, Any] | None, *, prefix: str = "") -> dict[str, Any]:
    """Validate ``values`` against ``schema`` and fill defaults.

    Unknown keys are rejected so that a typo never silently falls back to a
    default. Errors name the field as ``prefix.name``.
    """
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ConfigError(prefix or "params", "must be an object")
    known = {param.name: param for param in schema}
    for key in values:
        if key not in known:
            raise ConfigError(f"{prefix}.{key}" if prefix else str(key), "is not a known parameter")
    resolved = {}
    for param in schema:
        field_name = f"{prefix}.{param.name}" if prefix else param.name
        resolved[param.name] = param.coerce(values[param.name], field_name) if param.name in values else param.default
    return resolved
