"""Search spaces: Float/Int (linear or log) and Categorical parameters; unit-cube encoding.

Every parameter maps to one coordinate of the unit cube so that models (GPs, PFNs) see
``[0, 1]^d``. Float and Int use the (log-)linear map; Int decodes by rounding after the inverse
map, with bins of equal width, so that every integer owns an equal share of [0, 1] (as Optuna and
Syne Tune do). A Categorical with k choices maps choice i to the centre of bin i of k equal bins.
Decoding clips to [0, 1] first, so any point of the cube decodes to a valid configuration.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpo.errors import InvalidConfig, InvalidSpace

Scalar = float | int | str | bool
Config = dict[str, Any]


def _finite_number(name: str, field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidSpace(f"parameter {name!r}: {field} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InvalidSpace(f"parameter {name!r}: {field} must be finite, got {value!r}")
    return value


@dataclass(frozen=True)
class Float:
    low: float
    high: float
    log: bool = False

    kind = "float"

    def validate(self, name: str) -> None:
        low = _finite_number(name, "low", self.low)
        high = _finite_number(name, "high", self.high)
        if not low < high:
            raise InvalidSpace(f"parameter {name!r}: empty range, low={low} must be < high={high}")
        if self.log and low <= 0:
            raise InvalidSpace(f"parameter {name!r}: log scale needs low > 0, got low={low}")

    def _lo_hi(self) -> tuple[float, float]:
        if self.log:
            return math.log(self.low), math.log(self.high)
        return float(self.low), float(self.high)

    def encode(self, value: Any) -> float:
        lo, hi = self._lo_hi()
        v = math.log(value) if self.log else float(value)
        return (v - lo) / (hi - lo)

    def decode(self, u: float) -> float:
        lo, hi = self._lo_hi()
        v = lo + min(max(u, 0.0), 1.0) * (hi - lo)
        x = math.exp(v) if self.log else v
        return min(max(x, self.low), self.high)

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and self.low <= value <= self.high
        )

    def to_dict(self) -> dict[str, Any]:
        return {"type": "float", "low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True)
class Int:
    low: int
    high: int
    log: bool = False

    kind = "int"

    def validate(self, name: str) -> None:
        for field, v in (("low", self.low), ("high", self.high)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise InvalidSpace(f"parameter {name!r}: {field} must be an integer, got {v!r}")
        if not self.low < self.high:
            raise InvalidSpace(
                f"parameter {name!r}: empty range, low={self.low} must be < high={self.high}"
            )
        if self.log and self.low <= 0:
            raise InvalidSpace(f"parameter {name!r}: log scale needs low > 0, got low={self.low}")

    def _lo_hi(self) -> tuple[float, float]:
        # Bin edges half a step beyond the ends give every integer an equal share of [0, 1].
        if self.log:  # low >= 1 here, so low - 0.5 > 0
            return math.log(self.low - 0.5), math.log(self.high + 0.5)
        return self.low - 0.5, self.high + 0.5

    def encode(self, value: Any) -> float:
        lo, hi = self._lo_hi()
        v = math.log(value) if self.log else float(value)
        return min(max((v - lo) / (hi - lo), 0.0), 1.0)

    def decode(self, u: float) -> int:
        lo, hi = self._lo_hi()
        v = lo + min(max(u, 0.0), 1.0) * (hi - lo)
        x = math.exp(v) if self.log else v
        return int(min(max(round(x), self.low), self.high))

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
        )

    def to_dict(self) -> dict[str, Any]:
        return {"type": "int", "low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True)
class Categorical:
    choices: tuple[Scalar, ...]

    kind = "categorical"

    def __init__(self, choices: Iterable[Scalar]):
        object.__setattr__(self, "choices", tuple(choices))

    def validate(self, name: str) -> None:
        if len(self.choices) == 0:
            raise InvalidSpace(f"parameter {name!r}: categorical needs at least one choice")
        for c in self.choices:
            if not isinstance(c, (str, int, float, bool)) or (
                isinstance(c, float) and not math.isfinite(c)
            ):
                raise InvalidSpace(
                    f"parameter {name!r}: choices must be strings, numbers or booleans, got {c!r}"
                )
        if len(set(map(repr, self.choices))) != len(self.choices):
            raise InvalidSpace(f"parameter {name!r}: choices must be distinct")

    def index(self, value: Any) -> int:
        for i, c in enumerate(self.choices):
            if type(c) is type(value) and c == value:
                return i
        for i, c in enumerate(self.choices):  # 3 == 3.0 when the YAML wrote an int
            if c == value and not isinstance(c, bool) and not isinstance(value, bool):
                return i
        raise KeyError(value)

    def encode(self, value: Any) -> float:
        return (self.index(value) + 0.5) / len(self.choices)

    def decode(self, u: float) -> Scalar:
        k = len(self.choices)
        return self.choices[min(int(min(max(u, 0.0), 1.0) * k), k - 1)]

    def contains(self, value: Any) -> bool:
        try:
            self.index(value)
        except KeyError:
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": list(self.choices)}


Domain = Float | Int | Categorical


def domain_from_dict(name: str, d: Mapping[str, Any]) -> Domain:
    """Builds a parameter from its JSON form, e.g. ``{"type": "float", "low": 0, "high": 1}``."""
    if not isinstance(d, Mapping):
        raise InvalidSpace(f"parameter {name!r}: expected a mapping with a 'type', got {d!r}")
    kind = d.get("type")
    allowed = {
        "float": {"type", "low", "high", "log"},
        "int": {"type", "low", "high", "log"},
        "categorical": {"type", "choices"},
    }
    if kind not in allowed:
        raise InvalidSpace(
            f"parameter {name!r}: type must be one of float, int, categorical; got {kind!r}"
        )
    unknown = set(d) - allowed[kind]
    if unknown:
        raise InvalidSpace(f"parameter {name!r}: unknown keys {sorted(unknown)} for type {kind}")
    try:
        if kind == "categorical":
            choices = d["choices"]
            if not isinstance(choices, Sequence) or isinstance(choices, str):
                raise InvalidSpace(f"parameter {name!r}: choices must be a list")
            return Categorical(choices)
        log = d.get("log", False)
        if not isinstance(log, bool):
            raise InvalidSpace(f"parameter {name!r}: log must be true or false, got {log!r}")
        low, high = d["low"], d["high"]
        if kind == "float":
            low = float(low) if isinstance(low, (int, str)) and not isinstance(low, bool) else low
            high = (
                float(high) if isinstance(high, (int, str)) and not isinstance(high, bool) else high
            )
            return Float(low, high, log)
        return Int(low, high, log)
    except KeyError as e:
        raise InvalidSpace(f"parameter {name!r}: missing {e.args[0]!r}") from None
    except ValueError as e:
        if isinstance(e, InvalidSpace):
            raise
        raise InvalidSpace(f"parameter {name!r}: {e}") from None


class SearchSpace:
    """An ordered set of named parameters, validated on creation.

    >>> space = SearchSpace({"lr": Float(1e-4, 1e-1, log=True), "depth": Int(1, 4)})
    >>> space.decode(space.encode({"lr": 1e-3, "depth": 2}))["depth"]
    2
    """

    def __init__(self, params: Mapping[str, Domain]):
        if not isinstance(params, Mapping) or not params:
            raise InvalidSpace("a search space needs at least one parameter")
        for name, dom in params.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise InvalidSpace(
                    f"parameter name {name!r} must be an identifier (letters, digits, _)"
                )
            if not isinstance(dom, (Float, Int, Categorical)):
                raise InvalidSpace(f"parameter {name!r}: expected Float, Int or Categorical")
            dom.validate(name)
        self.params: dict[str, Domain] = dict(params)

    @property
    def names(self) -> list[str]:
        return list(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.params == other.params

    def __repr__(self) -> str:
        return f"SearchSpace({self.params!r})"

    def validate_config(self, config: Mapping[str, Any]) -> Config:
        """Returns ``config`` as a plain dict, or raises InvalidConfig naming the bad key."""
        if not isinstance(config, Mapping):
            raise InvalidConfig(f"a configuration must be a mapping, got {type(config).__name__}")
        missing = [n for n in self.params if n not in config]
        unknown = [k for k in config if k not in self.params]
        if unknown:
            raise InvalidConfig(f"unknown parameters {unknown}; the space has {self.names}")
        if missing:
            raise InvalidConfig(f"missing parameters {missing}")
        out: Config = {}
        for name, dom in self.params.items():
            v = config[name]
            if isinstance(dom, Float) and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            if not dom.contains(v):
                raise InvalidConfig(f"parameter {name!r}: {v!r} is outside {dom.to_dict()}")
            out[name] = dom.choices[dom.index(v)] if isinstance(dom, Categorical) else v
        return out

    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        """One configuration to a point of the unit cube, shape ``(d,)``."""
        return np.array([dom.encode(config[n]) for n, dom in self.params.items()], dtype=float)

    def encode_many(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Configurations to an ``(n, d)`` array in the unit cube."""
        out = np.empty((len(configs), len(self.params)), dtype=float)
        for i, c in enumerate(configs):
            out[i] = self.encode(c)
        return out

    def decode(self, u: Sequence[float] | np.ndarray) -> Config:
        """A point of ``[0, 1]^d`` (clipped) to a valid configuration."""
        if len(u) != len(self.params):
            raise InvalidConfig(f"expected a point of dimension {len(self.params)}, got {len(u)}")
        return {n: dom.decode(float(x)) for (n, dom), x in zip(self.params.items(), u, strict=True)}

    def sample(self, rng: np.random.Generator) -> Config:
        """A uniformly random configuration: uniform in the encoded cube (log-uniform for log)."""
        return self.decode(rng.random(len(self.params)))

    def to_dict(self) -> dict[str, Any]:
        return {n: dom.to_dict() for n, dom in self.params.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SearchSpace:
        if not isinstance(d, Mapping) or not d:
            raise InvalidSpace("the space must be a non-empty mapping of parameter names")
        return cls({name: domain_from_dict(name, spec) for name, spec in d.items()})
