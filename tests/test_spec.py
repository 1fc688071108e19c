"""The option space: validation with named bad values, persistence, feature accounting."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

from conformance import Case, InitialState, InvalidArgument, LSTMConfig, LSTMParams, reference, zero_state


def small_case(dtype="float32", **cfg) -> Case:
    config = LSTMConfig(num_units=2, input_size=3, dtype=dtype, **cfg)
    rng = np.random.default_rng(1)
    npd = config.np_dtype
    P = config.output_size
    params = LSTMParams(
        kernel=rng.normal(size=(3 + P, 8)).astype(npd), bias=rng.normal(size=8).astype(npd),
        w_i_diag=rng.normal(size=2).astype(npd) if config.use_peepholes else None,
        w_f_diag=rng.normal(size=2).astype(npd) if config.use_peepholes else None,
        w_o_diag=rng.normal(size=2).astype(npd) if config.use_peepholes else None,
        proj_kernel=rng.normal(size=(2, P)).astype(npd) if config.num_proj else None,
    )
    return Case(config, params, rng.normal(size=(2, 4, 3)).astype(npd), zero_state(config, 2)).validate()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_units": 0}, "num_units=0"),
        ({"input_size": -2}, "input_size=-2"),
        ({"num_units": 2.5}, "num_units=2.5"),
        ({"forget_bias": math.inf}, "forget_bias=inf"),
        ({"forget_bias": math.nan}, "forget_bias=nan"),
        ({"cell_clip": 0.0}, "cell_clip=0.0"),
        ({"cell_clip": -1.0}, "cell_clip=-1.0"),
        ({"proj_clip": 1.0}, "proj_clip=1.0 needs num_proj"),
        ({"num_proj": 0}, "num_proj=0"),
        ({"activation": "gelu"}, "activation='gelu'"),
        ({"dtype": "int8"}, "dtype='int8'"),
        ({"use_peepholes": "yes"}, "use_peepholes='yes'"),
    ],
)
def test_config_rejects_bad_values_by_name(kwargs, message):
    base = {"num_units": 1, "input_size": 1}
    base.update(kwargs)
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(")):
        LSTMConfig(**base)


def test_forget_bias_zero_and_negative_are_valid():
    assert LSTMConfig(num_units=1, input_size=1, forget_bias=0.0).features() == {"forget_bias"}
    assert LSTMConfig(num_units=1, input_size=1, forget_bias=-3.5).forget_bias == -3.5


def test_features_follow_the_config_and_state():
    case = small_case(use_peepholes=True, cell_clip=1.0, num_proj=2, proj_clip=0.5, activation="relu", forget_bias=0.0)
    assert case.features() == {"peepholes", "cell_clip", "projection", "proj_clip", "activation", "forget_bias"}
    c = np.ones_like(case.initial_state.c)
    assert "initial_state" in case.with_initial_state(c, case.initial_state.h).features()


def test_validate_names_the_bad_array():
    case = small_case()
    with pytest.raises(InvalidArgument, match=r"params.kernel has shape \(4, 8\), expected \(5, 8\)"):
        case.with_arrays({"kernel": case.params.kernel[:4]}).validate()
    with pytest.raises(InvalidArgument, match="inputs has dtype float64, expected float32"):
        case.with_arrays({"inputs": case.inputs.astype(np.float64)}).validate()
    with pytest.raises(InvalidArgument, match="params.w_i_diag must be None"):
        case.with_arrays({"w_i_diag": np.zeros(2, np.float32)}).validate()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_npz_round_trip_is_exact_without_pickles(tmp_path, dtype):
    case = small_case(dtype, use_peepholes=True, num_proj=1, proj_clip=0.5)
    path = tmp_path / "case.npz"
    case.save_npz(path)
    with np.load(path, allow_pickle=False) as data:  # must not need pickles
        assert "config" in data.files
    back = Case.load_npz(path)
    assert back.config == case.config
    for name, array in case.arrays().items():
        got = back.arrays()[name]
        assert got.dtype == array.dtype, f"{name}: dtype {got.dtype} != {array.dtype}"
        assert np.array_equal(got.astype(np.float64), array.astype(np.float64)), f"{name} changed in the round trip"


def test_truncated_npz_is_one_clear_error(tmp_path):
    path = tmp_path / "case.npz"
    small_case().save_npz(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidArgument, match="not a readable case file"):
        Case.load_npz(path)


def test_npz_with_inconsistent_config_is_rejected(tmp_path):
    case = small_case()
    buf = {k: v for k, v in case.arrays().items()}
    buf["config"] = np.array('{"num_units": 2, "input_size": 3, "proj_clip": 1.0}')
    path = tmp_path / "bad.npz"
    np.savez(path, **buf)
    with pytest.raises(InvalidArgument, match="proj_clip=1.0 needs num_proj"):
        Case.load_npz(path)


def test_first_output_does_not_depend_on_forget_bias_from_zero_state():
    # Why hand ports match at step 1 and drift from step 2 (DESIGN.md section 1).
    a = reference(small_case())
    b = reference(small_case(forget_bias=3.0))
    assert np.array_equal(a.outputs[:, 0], b.outputs[:, 0]), "step 0 outputs depend on forget_bias"
    assert not np.allclose(a.outputs[:, 1], b.outputs[:, 1]), "step 1 outputs should depend on forget_bias"


def test_nonzero_entries_list_every_number():
    case = small_case()
    zeroed = case.with_arrays({k: np.zeros_like(v) for k, v in case.arrays().items()})
    one = zeroed.with_arrays({"bias": np.eye(1, 8, 1, dtype=np.float32)[0] * 0.5})
    assert one.nonzero_values() == 1
    assert one.nonzero_entries() == [{"array": "bias", "index": [1], "value": 0.5}]


def test_initial_state_shapes_follow_projection():
    cfg = LSTMConfig(num_units=4, input_size=1, num_proj=2)
    s = zero_state(cfg, 3)
    assert s.c.shape == (3, 4) and s.h.shape == (3, 2), (s.c.shape, s.h.shape)
    assert isinstance(s, InitialState)
