"""Fixed points, cycles and continuation (snnreduce.continuation, snnreduce.dsode.state).

The detector is checked on maps with closed-form bifurcation points; the dsODE parts on short
runs (a few seconds in all).
"""

from __future__ import annotations

import numpy as np
import pytest

import snnreduce as sr
from snnreduce.analysis import attractor_coordinates, firing_rates, peak_sequence, ssi
from snnreduce.continuation import (FunctionMap, continue_branch, find_cycle, find_fixed_point,
                                    switch_period_doubling)
from snnreduce.continuation import branch as branch_module
from snnreduce.dsode import run
from snnreduce.dsode.state import StateMap
from snnreduce.params import ParameterError


def logistic(x, r):
    return r * x * (1.0 - x)


# -- the detector on maps with known bifurcations ------------------------------------------

def test_logistic_period_doubling_cascade():
    problem = FunctionMap(logistic)
    branch = continue_branch(problem, np.array([1 - 1 / 2.5]), 2.5, 3.5, parameter_name="r")
    pds = [sp for sp in branch.special if sp.kind == "period-doubling"]
    assert len(pds) == 1 and abs(pds[0].parameter - 3.0) < 1e-5
    assert abs(pds[0].multiplier + 1) < 1e-5
    # stability flips at r = 3
    for pt in branch.points:
        assert pt.stable == (pt.parameter < 3.0) or abs(pt.parameter - 3.0) < 1e-6
    doubled = switch_period_doubling(problem, pds[0], 3.5, parameter_name="r")
    assert len(doubled.points) > 5
    for pt in doubled.points[1::5]:  # closed form of the period-2 orbit
        r = pt.parameter
        root = np.sqrt((r + 1) * (r - 3))
        assert min(abs(pt.u[0] - (r + 1 + root) / (2 * r)),
                   abs(pt.u[0] - (r + 1 - root) / (2 * r))) < 1e-7
    second = [sp for sp in doubled.special if sp.kind == "period-doubling"]
    assert len(second) == 1 and abs(second[0].parameter - (1 + np.sqrt(6))) < 1e-5


def test_delayed_logistic_neimark_sacker():
    # x' = r x (1 - y), y' = x: fixed point 1 - 1/r, det of the Jacobian r - 1 -> NS at r = 2
    problem = FunctionMap(lambda x, r: np.array([r * x[0] * (1 - x[1]), x[0]]))
    branch = continue_branch(problem, np.full(2, 1 - 1 / 1.5), 1.5, 2.5)
    ns = [sp for sp in branch.special if sp.kind == "neimark-sacker"]
    assert len(ns) == 1 and abs(ns[0].parameter - 2.0) < 1e-5
    assert abs(abs(ns[0].multiplier) - 1) < 1e-6 and abs(ns[0].multiplier.imag) > 0.5


def test_fold_is_passed_and_located():
    # x' = x + (r - x²)/2: fixed points ±sqrt(r), fold at r = 0 (multiplier 1 - x)
    problem = FunctionMap(lambda x, r: x + 0.5 * (r - x ** 2))
    branch = continue_branch(problem, np.array([1.0]), 1.0, -1.0, max_points=200,
                             stop=lambda u, p: "done" if u[0] < -0.8 else None)
    folds = [sp for sp in branch.special if sp.kind == "fold"]
    assert len(folds) == 1 and abs(folds[0].parameter) < 1e-6
    assert branch.points[-1].u[0] < -0.8 and not branch.points[-1].stable
    for pt in branch.points:  # every point solves the equation
        assert abs(pt.parameter - pt.u[0] ** 2) < 1e-8



def test_period_doubling_found_when_the_multiplier_jumps_far_in_one_step():
    # x' = μ(p) x + x³, y' = -0.05 y with μ(p) = -0.3 - 40 p: period doubling at p = 0.0175.
    # One step of 0.05 takes μ from -0.3 to -2.3, farther from -1 than the other multiplier
    # (-0.05): the real multiplier nearest -1 switches, while det(I + DΦ) changes sign
    problem = FunctionMap(lambda x, p: np.array([(-0.3 - 40 * p) * x[0] + x[0] ** 3,
                                                 -0.05 * x[1]]))
    branch = continue_branch(problem, np.zeros(2), 0.0, 1.0, step=0.05, step_max=0.05)
    jump = [i for i in range(1, len(branch.points))
            if branch.points[i - 1].stable != branch.points[i].stable]
    assert jump and branch.points[jump[0]].multipliers[0].real < -2.05  # the hard case
    pds = [sp for sp in branch.special if sp.kind == "period-doubling"]
    assert len(pds) == 1 and abs(pds[0].parameter - 0.0175) < 1e-5
    assert abs(pds[0].multiplier + 1) < 1e-4


@pytest.mark.parametrize("before, after, kind", [
    ([0.3, 0.95], [2.3, 0.95], "fold"),            # 2.3 is farther from +1 than 0.95
    ([-0.6, -0.05], [-2.1, -0.05], "period-doubling"),
    ([-0.6, 0.2 + 0.5j, 0.2 - 0.5j], [-0.6, -1.5 + 0.1j, -1.5 - 0.1j], None),  # no real
    # multiplier passes ±1 (a complex pair leaves the circle): fold and PD tests keep sign
])
def test_test_functions_change_sign_exactly_at_real_crossings(before, after, kind):
    ta = branch_module.test_values(np.array(before))
    tb = branch_module.test_values(np.array(after))
    for name in ("fold", "period-doubling"):
        assert ta[name] < 0
        assert (tb[name] > 0) == (name == kind)


# -- Newton-Picard: the dominant subspace instead of a dense Jacobian ------------------------

def _schur_map(n=60, leading=(1.5, -0.9, 0.5), off=0.005, seed=0):
    """A linear map with the given leading eigenvalues, the others below 0.03 (a random
    orthogonal similarity of an upper-triangular matrix: mildly non-normal)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    t = np.triu(rng.standard_normal((n, n)), 1) * off
    t += np.diag(np.concatenate([leading, 0.01 * rng.standard_normal(n - len(leading))]))
    return q @ t @ q.T


def test_dominant_subspace_finds_the_leading_multipliers():
    from snnreduce.continuation.subspace import dominant_subspace

    jac = _schur_map(200, off=0.001)
    u = np.zeros(200)
    lin = dominant_subspace(lambda v: jac @ v, u, u, None, step=1e-7)
    assert lin.converged and lin.evaluations < 100  # cheaper than the dense Jacobian
    assert np.allclose(lin.ritz[:3].real, [1.5, -0.9, 0.5], atol=1e-6)
    assert np.all(np.abs(lin.ritz[3:]) < 0.2)
    # warm start from its own basis at a slightly different map: one sweep
    again = dominant_subspace(lambda v: 1.001 * jac @ v, u, u, lin.start_basis(), step=1e-7)
    assert again.converged and again.evaluations == lin.basis.shape[1]
    assert np.allclose(again.ritz[:3].real, 1.001 * np.array([1.5, -0.9, 0.5]), atol=1e-6)


def test_newton_picard_step_is_dense_newton_for_a_full_basis_and_converges_otherwise():
    from snnreduce.continuation.subspace import dense_linearisation, dominant_subspace

    rng = np.random.default_rng(1)
    jac = _schur_map()
    g_t, border, rhs = rng.standard_normal(60), rng.standard_normal(61), rng.standard_normal(61)
    full = np.zeros((61, 61))
    full[:60, :60], full[:60, 60], full[60] = jac - np.eye(60), g_t, border
    exact = np.linalg.solve(full, rhs)
    assert np.allclose(dense_linearisation(jac, g_t).solver(border)(rhs), exact, atol=1e-10)
    # the subspace version iterated as a chord method on the affine map u -> J u + b
    lin = dominant_subspace(lambda v: jac @ v, np.zeros(60), np.zeros(60), None, step=1e-7)
    solve, b = lin.solver(), rng.standard_normal(60)
    u = np.zeros(60)
    for _ in range(12):
        u = u + solve(-(jac @ u + b - u))
    assert np.max(np.abs(jac @ u + b - u)) < 1e-10


def test_bordered_newton_picard_step_is_the_dense_one_when_j_lives_on_the_basis():
    # J = J V Vᵀ exactly (J = V H Vᵀ): then the Newton–Picard step of the bordered system is
    # the dense bordered Newton step, for a basis V that is invariant or not
    from snnreduce.continuation.subspace import Linearisation

    rng = np.random.default_rng(4)
    n, m = 40, 5
    v = np.linalg.qr(rng.standard_normal((n, m)))[0]
    for jv in (v @ rng.standard_normal((m, m)),                         # invariant: J V = V H
               rng.standard_normal((n, m))):                            # not invariant
        jac = jv @ v.T
        g_t, border, rhs = rng.standard_normal(n), rng.standard_normal(n + 1), \
            rng.standard_normal(n + 1)
        full = np.zeros((n + 1, n + 1))
        full[:n, :n], full[:n, n], full[n] = jac - np.eye(n), g_t, border
        lin = Linearisation(basis=v, image=jv, ritz=np.linalg.eigvals(v.T @ jv),
                            vectors_=None, g_t=g_t)
        assert np.allclose(lin.solver(border)(rhs), np.linalg.solve(full, rhs), atol=1e-10)


def test_period_doubling_located_with_the_subspace_linearisation():
    # a logistic coordinate driving a 59-dimensional contracting tail (no feedback): the
    # multipliers are 2 - r and those of the tail, so the period doubling is at r = 3
    tail = _schur_map(59, leading=(0.3,), seed=2)
    drive = np.random.default_rng(3).standard_normal(59)

    def f(x, r):
        return np.concatenate(([r * x[0] * (1 - x[0])], tail @ x[1:] + drive * x[0] ** 2))

    def fixed(r):
        x0 = 1 - 1 / r
        return np.concatenate(([x0], np.linalg.solve(np.eye(59) - tail, drive * x0 ** 2)))

    problem = FunctionMap(f)
    assert 60 > branch_module.DENSE_MAX
    branch = continue_branch(problem, fixed(2.5), 2.5, 3.5, parameter_name="r")
    pds = [sp for sp in branch.special if sp.kind == "period-doubling"]
    assert len(pds) == 1 and abs(pds[0].parameter - 3.0) < 1e-5
    assert abs(pds[0].multiplier + 1) < 1e-5
    assert all(pt.multipliers.size < 60 for pt in branch.points[1:])  # subspace points
    for pt in branch.points:
        assert np.max(np.abs(pt.u - fixed(pt.parameter))) < 1e-8
        assert pt.stable == (pt.parameter < 3.0) or abs(pt.parameter - 3.0) < 1e-6


# -- the dsODE as a map ----------------------------------------------------------------------

@pytest.mark.parametrize("closure, refractory_rule",
                         [("paper", "exponential"), ("diffusion", "exponential"),
                          ("ou", "exponential"), ("ou", "fixed"), ("ou-cond", "exponential"),
                          ("ou-cond-linear", "fixed")])
def test_state_map_reproduces_run_and_conserves_mass(closure, refractory_rule):
    p = sr.NetworkParams.preset("reference")
    if refractory_rule == "fixed":
        p = p.replace(refractory="fixed")
    m = StateMap(p, closure=closure)
    state = m.initial_state()
    counts, _ = m.advance(state, 3013)  # not a whole number of delay-line turns
    assert np.array_equal(counts, run(p, t_end=301.3, closure=closure)["population_counts"])
    x = m.to_vector(state)
    pool = m.line_steps - 1 if m.fixed_line else 1
    deviations = 2 * 2 * (m.n_bins + pool) if closure.startswith("ou") else 0
    assert x.size == m.size == 2 * (2 * m.n_bins - 1 + pool) + 8 + deviations
    back = m.from_vector(x)
    for q in range(2):
        assert abs(back.n[q].sum() + back.refr[q] - p.n[q]) < 1e-9
    assert np.allclose(back.n, state.n, rtol=0, atol=1e-9)
    if closure.startswith("ou"):  # the deviations survive the round trip (where neurons are)
        assert np.allclose(back.n[:, None, :] * back.eta, state.n[:, None, :] * state.eta,
                           rtol=0, atol=1e-9)
    # the flat vector advances like the state (continuation of a run)
    more, _ = m.advance(back, 10)
    ref, _ = m.advance(state, 10)
    assert np.allclose(more, ref, rtol=1e-10, atol=1e-12)


def test_state_map_passes_options_through():
    p = sr.NetworkParams.preset("reference")
    assert StateMap(p, dv=8.0).n_bins == 18
    m = StateMap(p, refractory_rule="paper", rate_lag=1)
    counts, _ = m.advance(m.initial_state(), 500)
    ref = run(p, t_end=50, refractory_rule="paper", rate_lag=1)["population_counts"]
    assert np.array_equal(counts, ref)
    assert m.layout["last"][1] - m.layout["last"][0] == 2
    with pytest.raises(ParameterError, match="unknown dsODE option"):
        StateMap(p, bins=3)


def test_fixed_point_stays_put_and_matches_simulated_stability():
    p = sr.NetworkParams.preset("lcy-homogeneous")
    fp = find_fixed_point(p, t_transient=500.0)
    assert fp.converged and fp.residual < 1e-10 and fp.stable
    res = fp.result(t_end=1000.0)
    c = res.population_counts
    assert np.max(np.abs(c - c[0])) < 1e-9 * c[0].max()  # a fixed point to round-off
    # a long run from the initial state converges to it (stable)
    far = sr.reduce(p, t_end=3000, record=()).population_counts[-1]
    assert np.allclose(far, c[0], rtol=1e-6)
    assert abs(fp.info["rate_e_hz"] - firing_rates(res, discard=0)["E"]) < 1e-6


def test_unstable_fixed_point_drifts_away():
    # the closure the test was written for; under the default "ou" this Newton solve from a
    # 300 ms transient does not converge
    p = sr.NetworkParams.preset("reference", p_ei=0.8)
    fp = find_fixed_point(p, t_transient=300.0, closure="paper")
    assert fp.converged and not fp.stable
    c = fp.result(t_end=1500.0, record=()).population_counts
    assert np.max(np.abs(c[-5000:] - c[0])) > 0.1 * c[0].max()  # it oscillates away


def test_cycle_has_the_simulated_period_and_is_a_result():
    p = sr.NetworkParams.preset("reference", p_ei=0.7)
    cyc = find_cycle(p, t_transient=600.0)
    assert cyc.converged and cyc.stable and cyc.iterates == 1
    long = sr.reduce(p, t_end=3000, record=())
    peaks = peak_sequence(long, "E", discard=1000.0)
    simulated = np.mean(np.diff(peaks.times))
    assert abs(cyc.period_ms - simulated) < 0.05  # peak times are whole steps (0.1 ms)
    res = cyc.result(n_periods=10)
    assert isinstance(res, sr.Result) and res.engine == "dsode"
    rates = firing_rates(res, discard=0.0)
    assert abs(rates["E"] - cyc.info["rate_e_hz"]) < 0.02 * rates["E"]
    assert 0 < ssi(res, "E", discard=0.0) < 1
    assert attractor_coordinates(res, discard=0.0).time.size == res.n_steps
    # the long run's rate is the cycle's rate
    assert abs(firing_rates(long, discard=1000.0)["E"] - rates["E"]) < 0.01 * rates["E"]


def test_cycle_multiplier_crosses_minus_one_between_stable_and_period_two():
    # the brute-force sweep of the paper's closure: period 1 at 0.78, period 2 at 0.79
    below = find_cycle(sr.NetworkParams.preset("reference", p_ei=0.77), t_transient=600.0,
                       closure="paper")
    assert below.stable and below.multipliers[0].real < -0.2
    two = find_cycle(sr.NetworkParams.preset("reference", p_ei=0.80), t_transient=600.0,
                     iterates=2, closure="paper")
    assert two.converged and two.stable
    assert two.info["peak_difference"] > 50  # large and small bursts alternate



@pytest.mark.slow
@pytest.mark.parametrize("closure, start, stop, brute_force", [
    # brute force (docs/continuation.md, "Every closure"): period 1 up to 0.784 / 0.758 /
    # 0.7563 / 0.7575, alternation growing from 0.785 / 0.7585 / 0.7564 / 0.7576
    ("paper", 0.775, 0.795, 0.785), ("ou", 0.750, 0.770, 0.7588),
    ("ou-cond", 0.745, 0.765, 0.7564), ("ou-cond-linear", 0.747, 0.767, 0.7577)])
def test_period_doubling_of_the_gamma_cycle_matches_brute_force(closure, start, stop,
                                                                brute_force):
    # one arclength step over the whole range: under "ou" the multiplier goes from -0.4 to
    # -2.3 in it, the case where the nearest-to--1 test missed the crossing
    from snnreduce.continuation.orbits import section_problem, transient

    params = sr.NetworkParams.preset("reference", p_ei=start)
    options = {"closure": closure}
    x, h_tail = transient(params, 600.0, **options)
    problem = section_problem(params, "p_ei", options, x, h_tail)
    y, _ = problem._return(problem.statemap(start), x)
    branch = continue_branch(problem, problem.to_scaled(y), start, stop, step=1.0,
                             step_max=1.0, describe=False, parameter_name="p_ei")
    assert branch.points[0].stable and not branch.points[-1].stable
    pds = [sp for sp in branch.special if sp.kind == "period-doubling"]
    assert len(pds) == 1 and abs(pds[0].parameter - brute_force) < 0.005
    assert abs(pds[0].multiplier + 1) < 1e-3


def test_attractor_matching_rules():
    from snnreduce.continuation.branch import Branch, BranchPoint
    from snnreduce.continuation.diagram import Attractor, on_a_branch

    def point(p, rate, period, stable):
        mu = np.array([0.5 if stable else 1.5])
        return BranchPoint(p, np.zeros(1), mu, {"rate_e_hz": rate, "period_ms": period})

    gamma = Branch("cycle", "p", [point(0.80, 40.0, 20.0, True), point(0.82, 44.0, 21.0, True)],
                   [], "")
    fixed = Branch("fixed point", "p", [point(0.80, 50.0, None, False),
                                        point(0.82, 52.0, None, False)], [], "")
    # on the cycle (interpolated between the points), off it by period, rate, or parameter
    assert on_a_branch(Attractor(0.81, True, 42.3, 20.4), [gamma, fixed])
    assert not on_a_branch(Attractor(0.81, True, 42.3, 15.5), [gamma, fixed])
    assert not on_a_branch(Attractor(0.81, True, 48.0, 20.5), [gamma, fixed])
    assert not on_a_branch(Attractor(0.83, True, 44.0, 21.0), [gamma, fixed])
    # a period-2 branch matches half its period, and the whole one (one burst crossing)
    two = Branch("period-2 cycle", "p", [point(0.80, 40.0, 40.0, True),
                                         point(0.82, 44.0, 42.0, True)], [], "")
    two.problem = FunctionMap(logistic, iterates=2)
    assert on_a_branch(Attractor(0.81, True, 42.0, 20.5), [two])
    assert on_a_branch(Attractor(0.81, True, 42.0, 41.0), [two])
    # a stationary attractor never matches a cycle, nor an unstable stationary branch
    assert not on_a_branch(Attractor(0.81, False, 51.0, None), [gamma, fixed])
    fixed.points[0].multipliers[:] = 0.9
    assert on_a_branch(Attractor(0.81, False, 51.0, None), [gamma, fixed])


@pytest.mark.slow
def test_continue_finds_the_second_cycle_family_and_its_period_doubling_under_diffusion():
    # closure "diffusion" (docs/continuation.md, "Every closure"): the gamma cycle ends in a
    # fold at 0.816 where the dsODE jumps to a second family, which period-doubles at 0.8288
    # (brute force 0.8285); continue_parameter must start that family by itself
    from snnreduce.continuation.diagram import continue_parameter

    d = continue_parameter(sr.NetworkParams.preset("reference"), "p_ei", 0.80, 0.84,
                           options={"closure": "diffusion"})
    cycles = [b for b in d.branches if b.kind == "cycle"]
    periods = sorted({round(b.points[0].info["period_ms"]) for b in cycles})
    assert periods[0] <= 16 and periods[-1] >= 20  # both families
    pds = [sp.parameter for b in cycles for sp in b.special if sp.kind == "period-doubling"]
    assert any(abs(p - 0.8285) < 0.005 for p in pds)


@pytest.mark.slow
def test_stationary_branch_starts_where_the_first_guess_stalls_newton():
    # closure "ou-cond-linear" at p_ei = 0.5 (docs/continuation.md, "Every closure"): Newton
    # from the averaged state of the 1000 ms transient stalls at residual ~1e-7, from a
    # 2000 ms one it converges; the branch must start from the second guess, at the same
    # stationary state find_fixed_point gives (just past its Hopf point: |mu| slightly > 1)
    from snnreduce.continuation.diagram import continue_parameter

    params = sr.NetworkParams.preset("reference")
    d = continue_parameter(params, "p_ei", 0.5, 0.51, options={"closure": "ou-cond-linear"},
                           cycles=False)
    assert len(d.branches) == 1 and d.branches[0].kind == "fixed point"
    first = d.branches[0].points[0]
    assert first.parameter == 0.5
    mu = np.abs(first.multipliers).max()
    assert 1.0 < mu < 1.001
    fp = find_fixed_point(params.replace(p_ei=0.5), closure="ou-cond-linear")
    assert fp.converged
    assert abs(first.info["rate_e_hz"] - fp.info["rate_e_hz"]) < 1e-6 * fp.info["rate_e_hz"]


def test_cli_bad_input_exits_2(capsys):
    from snnreduce.cli import main

    for args, word in ((["--param", "n_e", "--from", "1", "--to", "2"], "cannot be continued"),
                       (["--param", "p_ei", "--from", "0.5", "--to", "0.5"], "empty"),
                       (["--param", "p_ei", "--from", "0.5", "--to", "1.5"], "p_ei"),
                       (["--param", "nope", "--from", "0", "--to", "1"], "unknown parameter")):
        with pytest.raises(SystemExit) as exc:
            main(["continue", *args, "--out", "unused"])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and word in err[0]


def test_cli_continue_writes_json_and_figure(tmp_path):
    import json

    from snnreduce.cli import main

    out = tmp_path / "cont"
    # closure "ou": under the default "ou-cond-linear" Newton on the (unstable) stationary
    # state stalls just above the branch tolerance here, and this test is about the CLI's
    # files holding both kinds of branch (docs/continuation.md, Limits)
    main(["continue", "--param", "p_ei", "--from", "0.70", "--to", "0.72",
          "--t-transient", "300", "--option", "closure=ou", "--out", str(out), "--quiet"])
    data = json.loads((out / "cont.json").read_text())
    assert (out / "cont.png").stat().st_size > 10_000
    kinds = {b["kind"] for b in data["branches"]}
    assert {"fixed point", "cycle"} <= kinds
    cycle = next(b for b in data["branches"] if b["kind"] == "cycle")
    assert min(cycle["parameter"]) == pytest.approx(0.70) and all(cycle["stable"])
    assert all(16 < t < 19 for t in cycle["period_ms"])  # the gamma cycle, ~17.4 ms
    assert data["params"]["p_ei"] == 0.8 and data["parameter"] == "p_ei"
