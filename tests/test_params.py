"""NetworkParams: validation in one place, presets, scaling, serialisation."""

import math

import numpy as np

import pytest
from hypothesis import given, strategies as st

from snnreduce import NetworkParams, ParameterError, PRESETS
from snnreduce.params import PATHWAYS, read_parameter_file


def test_defaults_are_the_reference_set():
    p = NetworkParams.preset("reference")
    assert p == NetworkParams()
    assert (p.n_e, p.n_i, p.threshold, p.inhibitory_reversal) == (300, 100, 100.0, 66.0)
    assert (p.s_ee, p.s_ie, p.s_ei, p.s_ii) == (0.95, 1.25, 2.71, 2.45)
    assert p.tau("ei") == p.tau("ii") == 4.5
    assert all(p.p(pw) == 0.8 for pw in PATHWAYS)


@pytest.mark.parametrize("name, tau_ee", [("lcy-homogeneous", 4.0), ("lcy-regular", 1.7),
                                          ("lcy-synchronous", 1.4)])
def test_lcy_presets(name, tau_ee):
    p = NetworkParams.preset(name)
    assert p.tau_ee == tau_ee and p.tau_ie == 1.2
    assert (p.s_ee, p.s_ie, p.s_ei, p.s_ii) == (5.0, 2.0, 4.91, 4.91)
    assert (p.p_ee, p.p_ie, p.p_ei, p.p_ii) == (0.15, 0.5, 0.5, 0.4)


def test_unknown_preset_names_the_choices():
    with pytest.raises(ParameterError, match="preset must be one of .*reference.*got 'nope'"):
        NetworkParams.preset("nope")


@given(k=st.floats(0.05, 5.0))
def test_scaling_keeps_n_p_s(k):
    base = NetworkParams()
    scaled = base.scaled(k)
    for pw, n_pre in (("ee", "n_e"), ("ie", "n_e"), ("ei", "n_i"), ("ii", "n_i")):
        before = getattr(base, n_pre) * base.p(pw) * base.s(pw)
        after = getattr(scaled, n_pre) * scaled.p(pw) * scaled.s(pw)
        # N is rounded to an integer, so N P S is kept up to that rounding.
        assert after == pytest.approx(before, rel=1.0 / getattr(scaled, n_pre) + 1e-12)


# Every kind of invalid value: wrong type, out of range, non-finite, unknown name/choice.
INVALID = [
    ("p_ei", 1.3, r"p_ei must be in \[0, 1\], got 1.3"),
    ("p_ee", -0.1, r"p_ee must be in \[0, 1\]"),
    ("n_e", 0, r"n_e must be an integer >= 1, got 0"),
    ("n_i", 2.5, r"n_i must be an integer >= 1, got 2.5"),
    ("n_e", "300", r"n_e must be a number"),
    ("n_e", True, r"n_e must be a number"),
    ("tau_ee", 0.0, r"tau_ee must be > 0"),
    ("tau_r", -1.0, r"tau_r must be >= 0"),
    ("tau_m", -5.0, r"tau_m must be >= 0"),
    ("lambda_e", -1.0, r"lambda_e must be >= 0"),
    ("lambda_i", math.nan, r"lambda_i must be finite"),
    ("s_ee", math.inf, r"s_ee must be finite"),
    ("s_ii", -2.0, r"s_ii must be >= 0"),
    ("threshold", 0.0, r"threshold must be > 0"),
    ("inhibitory_reversal", -66.0, r"inhibitory_reversal must be > 0"),
    ("dt", 0.0, r"dt must be in \(0, 1\]"),
    ("dt", 2.0, r"dt must be in \(0, 1\]"),
    ("refractory", "gamma", r"refractory must be 'exponential' or 'fixed', got 'gamma'"),
    ("connectivity", "sparse", r"connectivity must be 'annealed' or 'quenched'"),
    ("initial_state", 3, r"initial_state must be 'rest' or 'uniform'"),
    ("p_ie", None, r"p_ie must be a number"),
]


@pytest.mark.parametrize("name, value, message", INVALID)
def test_invalid_values_are_rejected_with_a_clear_message(name, value, message):
    with pytest.raises(ParameterError, match=message):
        NetworkParams(**{name: value})
    with pytest.raises(ParameterError, match=message):
        NetworkParams().replace(**{name: value})


def test_unknown_name_and_positional_use_are_rejected():
    with pytest.raises(ParameterError, match="unknown parameter 'p_xx'"):
        NetworkParams().replace(p_xx=0.1)
    with pytest.raises(TypeError):
        NetworkParams(300)  # keyword-only
    with pytest.raises(ParameterError, match="k must be a finite number > 0"):
        NetworkParams().scaled(0)


def test_frozen():
    with pytest.raises(AttributeError):
        NetworkParams().p_ei = 0.5


def test_tau_m_none_means_no_leak():
    assert NetworkParams(tau_m=None).tau_m == 0.0


valid_params = st.builds(
    NetworkParams,
    n_e=st.integers(1, 5000), n_i=st.integers(1, 5000),
    p_ei=st.floats(0, 1), s_ee=st.floats(0, 10), tau_ee=st.floats(0.1, 10),
    refractory=st.sampled_from(["exponential", "fixed"]),
    connectivity=st.sampled_from(["annealed", "quenched"]), tau_m=st.floats(0, 50),
)


@given(valid_params)
def test_dict_json_and_toml_round_trip(tmp_path_factory, params):
    assert NetworkParams.from_dict(params.to_dict()) == params
    assert NetworkParams.from_json(params.to_json()) == params
    path = tmp_path_factory.mktemp("toml") / "p.toml"
    params.save_toml(path)
    assert NetworkParams.load_toml(path) == params


def test_toml_network_table_and_corrupt_file(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text("[network]\np_ei = 0.9\nn_e = 200\n")
    assert NetworkParams.load_toml(good) == NetworkParams(p_ei=0.9, n_e=200)
    bad = tmp_path / "bad.toml"
    bad.write_text("p_ei = = 1\n")
    with pytest.raises(ParameterError, match="cannot read parameter file"):
        NetworkParams.load_toml(bad)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("p_ei = 1.5\n")
    with pytest.raises(ParameterError, match="p_ei must be in"):
        NetworkParams.load_toml(wrong)


def test_every_preset_is_valid():
    for name in PRESETS:
        assert isinstance(NetworkParams.preset(name), NetworkParams)


def test_arrays_where_a_number_is_expected_name_the_field():
    for value in (np.array([0.5, 0.6]), np.array([[0.5]])):
        with pytest.raises(ParameterError, match="p_ei must be a single number"):
            NetworkParams(p_ei=value)
    with pytest.raises(ParameterError, match="n_e must be"):
        NetworkParams(n_e=np.array([300, 100]))
    assert NetworkParams(p_ei=np.array(0.5)).p_ei == 0.5  # a 0-d array is a number


@pytest.mark.parametrize("suffix, text", [
    (".toml", "[network]\np_ei = 0.9\nn_e = 200\n"),
    (".json", '{"p_ei": 0.9, "n_e": 200}'),
    (".JSON", '{"network": {"p_ei": 0.9, "n_e": 200}}'),
])
def test_parameter_files_in_toml_and_json(tmp_path, suffix, text):
    path = tmp_path / f"p{suffix}"
    path.write_text(text)
    assert read_parameter_file(path) == {"p_ei": 0.9, "n_e": 200}


@pytest.mark.parametrize("name, text, message", [
    ("p.yaml", "p_ei: 0.9", "must end in .toml or .json"),
    ("p.json", "[0.9]", "must hold a table"),
    ("p.json", "{p_ei: 0.9}", "cannot read parameter file"),
    ("p.toml", "p_ei = [0.8, 0.9]\n", None),
])
def test_bad_parameter_files(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    if message is None:  # readable, but the array fails validation naming the field
        with pytest.raises(ParameterError, match="p_ei must be a number"):
            NetworkParams.from_dict(read_parameter_file(path))
    else:
        with pytest.raises(ParameterError, match=message):
            read_parameter_file(path)
