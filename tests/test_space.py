from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpo.errors import InvalidConfig, InvalidSpace
from hpo.space import Categorical, Float, Int, SearchSpace

SPACE = SearchSpace(
    {
        "lr": Float(1e-5, 1.0, log=True),
        "momentum": Float(0.0, 0.99),
        "layers": Int(1, 8),
        "width": Int(16, 1024, log=True),
        "act": Categorical(["relu", "tanh", "gelu"]),
        "bs": Categorical([16, 32, 64]),
    }
)


@st.composite
def configs(draw: st.DrawFn) -> dict:
    return {
        "lr": draw(st.floats(1e-5, 1.0)),
        "momentum": draw(st.floats(0.0, 0.99)),
        "layers": draw(st.integers(1, 8)),
        "width": draw(st.integers(16, 1024)),
        "act": draw(st.sampled_from(["relu", "tanh", "gelu"])),
        "bs": draw(st.sampled_from([16, 32, 64])),
    }


@given(configs())
def test_encode_then_decode_returns_the_same_config(config: dict) -> None:
    back = SPACE.decode(SPACE.encode(config))
    assert back["layers"] == config["layers"]
    assert back["width"] == config["width"]
    assert back["act"] == config["act"] and back["bs"] == config["bs"]
    assert math.isclose(back["lr"], config["lr"], rel_tol=1e-9)
    assert math.isclose(back["momentum"], config["momentum"], rel_tol=1e-9, abs_tol=1e-12)


@given(configs())
def test_encoding_lies_in_the_unit_cube(config: dict) -> None:
    u = SPACE.encode(config)
    assert u.shape == (6,)
    assert np.all((u >= 0) & (u <= 1))


@given(st.lists(st.floats(-3, 3, allow_nan=False), min_size=6, max_size=6))
def test_any_point_decodes_to_a_valid_config(u: list[float]) -> None:
    assert SPACE.validate_config(SPACE.decode(u)) is not None


def test_log_float_encodes_geometric_midpoint_at_one_half() -> None:
    f = Float(1e-4, 1e-2, log=True)
    assert f.encode(1e-3) == pytest.approx(0.5)


def test_every_integer_owns_an_equal_share_of_the_unit_interval() -> None:
    d = Int(1, 4)
    u = np.linspace(0, 1, 40001)
    counts = np.bincount([d.decode(x) for x in u])[1:]
    assert counts.min() / counts.max() > 0.99


def test_categorical_choice_maps_to_the_centre_of_its_bin() -> None:
    c = Categorical(["a", "b", "c", "d"])
    assert [c.encode(x) for x in "abcd"] == [0.125, 0.375, 0.625, 0.875]


def test_sampling_log_scale_is_log_uniform() -> None:
    space = SearchSpace({"x": Float(1e-3, 1e3, log=True)})
    rng = np.random.default_rng(0)
    xs = np.array([space.sample(rng)["x"] for _ in range(4000)])
    assert abs(np.mean(xs < 1.0) - 0.5) < 0.03


@pytest.mark.parametrize(
    "params, message",
    [
        ({"x": Float(1.0, 1.0)}, "empty range"),
        ({"x": Float(0.0, 1.0, log=True)}, "log scale needs low > 0"),
        ({"x": Int(3, 2)}, "empty range"),
        ({"x": Int(1, 2.5)}, "must be an integer"),
        ({"x": Float(0.0, float("inf"))}, "finite"),
        ({"x": Categorical([])}, "at least one choice"),
        ({"x": Categorical(["a", "a"])}, "distinct"),
        ({"not valid": Float(0, 1)}, "identifier"),
        ({}, "at least one parameter"),
    ],
)
def test_invalid_spaces_are_rejected_with_a_message(params: dict, message: str) -> None:
    with pytest.raises(InvalidSpace, match=message):
        SearchSpace(params)


def test_space_round_trips_through_json_form() -> None:
    assert SearchSpace.from_dict(SPACE.to_dict()) == SPACE


def test_from_dict_rejects_unknown_keys_and_types() -> None:
    with pytest.raises(InvalidSpace, match="unknown keys"):
        SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1, "step": 2}})
    with pytest.raises(InvalidSpace, match="type must be"):
        SearchSpace.from_dict({"x": {"type": "floaty", "low": 0, "high": 1}})


def test_validate_config_names_unknown_missing_and_out_of_range_values() -> None:
    good = {"lr": 0.1, "momentum": 0.5, "layers": 2, "width": 64, "act": "relu", "bs": 32}
    assert SPACE.validate_config(good) == good
    with pytest.raises(InvalidConfig, match="unknown parameters"):
        SPACE.validate_config({**good, "extra": 1})
    with pytest.raises(InvalidConfig, match="missing"):
        SPACE.validate_config({k: v for k, v in good.items() if k != "lr"})
    with pytest.raises(InvalidConfig, match="'layers'"):
        SPACE.validate_config({**good, "layers": 9})
    with pytest.raises(InvalidConfig, match="'act'"):
        SPACE.validate_config({**good, "act": "sigmoid"})
