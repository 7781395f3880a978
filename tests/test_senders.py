"""Inputs are sums over sender populations: a K = 3 description built by hand.

``NetworkParams`` names two populations, so nothing runs with three through the api yet; the
kernels read their senders from the tables, and these tests hand them tables of a K = 3
description in which one population of the reference network is split in two identical
parts ("X" holds a fraction W of its neurons, the original keeps 1 - W). Every pathway
keeps its kick, time constant and probability, so a post neuron's pending kicks from the
two parts are independent counts whose means and variances add up to those of the
unsplit pathway: the input of every population, and (deterministic dsODE, closures whose
input is linear in the moments) the whole run, must equal the two-population ones. A
kernel that read only one sender of each kind, took the kind from the position instead of
the pre population's flag, or summed a sender twice, fails them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from snnreduce import NetworkParams
from snnreduce.baselines import fokker_planck as fp
from snnreduce.dsode import engine, moments
from snnreduce.dsode import kernel as K
from snnreduce.network import _sweep, stepped
from snnreduce.populations import (PATHWAY_COLUMNS, kernel_pathway_table, pathway_rows,
                                   tables)

PARAMS = NetworkParams.preset("reference", s_ei=2.2, s_ie=1.1, tau_ie=1.3, p_ii=0.7)
W = 0.3   # the share of the split population that goes to "X"


def split_tables(params, which):
    """The K = 3 tables of ``params`` with population ``which`` (0: E, 1: I) split into
    itself (1 - W of its neurons) and "X" (W of them), X a copy of ``which``."""
    t = tables(params)
    source = [0, 1, which]          # population of the K = 2 description each row copies
    sizes = t.sizes.astype(np.float64)[source]
    sizes[which] *= 1.0 - W
    sizes[2] *= W
    grid = np.ix_(source, source)
    return dataclasses.replace(
        t, names=("E", "I", "X"), sizes=sizes, offsets=np.concatenate([[0], np.cumsum(sizes)]),
        inhibitory=t.inhibitory[source], external_rate=t.external_rate[source],
        kick=t.kick[grid], tau=t.tau[grid], prob=t.prob[grid])


def share(which, k=3):
    """``(source, weight)`` per pathway row of the K = 3 table: the K = 2 row it splits and the
    share of that row's pending kicks (and their variance) it holds."""
    post, pre = pathway_rows(k)
    source = np.array([0, 1, which])
    weight = np.where(pre == 2, W, np.where(pre == which, 1.0 - W, 1.0))
    return source[pre] * 2 + source[post], weight   # K = 2 rows are pre-major too


def split_moments(h, var, which):
    rows, weight = share(which)
    return h[rows] * weight, var[rows] * weight


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("closure", ["paper", "diffusion", "ou"])
def test_input_coefficients_sum_over_the_split_senders(which, closure):
    pop2, pw2 = moments.population_table(PARAMS), moments.pathway_table(PARAMS, closure)
    t3 = split_tables(PARAMS, which)
    pop3, pw3 = moments.population_table(t3), moments.pathway_table(t3, closure)
    assert pw3.shape == (9, len(PATHWAY_COLUMNS))
    rng = np.random.default_rng(4)
    h2, var2 = rng.uniform(1.0, 30.0, 4), rng.uniform(0.5, 20.0, 4)
    h3, var3 = split_moments(h2, var2, which)
    for q3, q2 in ((0, 0), (1, 1), (2, which)):  # X's input is that of the population it copies
        two = moments.input_coefficients(q2, h2, var2, pop2, pw2, 0.1)
        three = moments.input_coefficients(q3, h3, var3, pop3, pw3, 0.1)
        assert np.allclose(three, two, rtol=1e-13, atol=0.0), (q3, three, two)
    # the kind comes from the pre population's flag: X made excitatory moves its kicks from
    # B (inhibitory, times g) to A
    if which == 1:
        flipped = pw3.copy()
        flipped[pw3[:, moments.TAB_PRE] == 2, moments.TAB_INHIBITORY] = 0.0
        a, b, *_ = moments.input_coefficients(0, h3, var3, pop3, flipped, 0.1)
        a2, b2, *_ = moments.input_coefficients(0, h2, var2, pop2, pw2, 0.1)
        moved = 0.1 * PARAMS.s_ei * h3[2 * 3 + 0] / PARAMS.tau_ei
        assert a == pytest.approx(a2 + moved, rel=1e-12)
        assert b == pytest.approx(b2 - moved, rel=1e-12)


def _dsode(params_or_tables, setup, state, steps):
    """Counts (steps, K) and pending records (steps, K²) of the deterministic dsODE kernel on
    the tables of ``params_or_tables`` from ``state``."""
    pop = moments.population_table(params_or_tables)
    pw = moments.pathway_table(params_or_tables, setup.options["closure"])
    k, n_pw = pop.shape[0], pw.shape[0]
    counts, rec_h = np.zeros((steps, k)), np.zeros((steps, n_pw))
    empty = np.zeros((0, k, 0))
    done = K._advance(*state, pop, pw, K.sender_kinds(pw), setup.fc, setup.ic, 0, steps,
                      np.random.default_rng(0), np.zeros((0, k)), counts, empty, empty, rec_h,
                      np.zeros((0, n_pw)), np.zeros((0, k)), 0, 1)
    assert done == steps
    return counts, rec_h


def _split_state(state, which):
    """The K = 3 state of a K = 2 dsODE state (population ``which`` split W : 1 - W)."""
    n, vm, refr, line, h, var, last, eta, eta_r = state
    source = [0, 1, which]
    scale = np.ones(3)
    scale[which], scale[2] = 1.0 - W, W
    h3, var3 = split_moments(h, var, which)
    per_pop = [np.ascontiguousarray(a[source] * (scale[:, None] if a.ndim == 2 else scale))
               for a in (n, refr, line, last)]
    n3, refr3, line3, last3 = per_pop
    vm3 = np.ascontiguousarray(vm[source])
    eta3 = np.zeros((3, 3, eta.shape[2]))
    eta_r3 = np.zeros((3, 3, eta_r.shape[2]))
    return n3, vm3, refr3, line3, h3, var3, last3, eta3, eta_r3


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("closure", ["paper", "diffusion"])
def test_the_dsode_kernel_runs_three_populations_as_two(which, closure):
    """The dsODE kernel loops over the tables' rows: with I (or E) split in two identical
    parts it gives the two-population run (the split parts' spikes add up, E's are E's)."""
    params = PARAMS.replace(initial_state="uniform", refractory="fixed")
    setup = engine._Setup(params, dv=2.0, v_low=-40.0, refractory_rule="exponential",
                          moment_integrator="exact", truncate_sd=8.0, noise=None,
                          pending_noise=False, rate_lag=0, closure=closure)
    steps = 400
    state2 = setup.initial_state()
    state3 = _split_state(state2, which)
    counts2, pend2 = _dsode(params, setup, state2, steps)
    counts3, pend3 = _dsode(split_tables(params, which), setup, state3, steps)
    other = 1 - which
    assert counts2.sum() > 100.0   # the network fires
    assert np.allclose(counts3[:, other], counts2[:, other], rtol=1e-9, atol=1e-9)
    assert np.allclose(counts3[:, which] + counts3[:, 2], counts2[:, which], rtol=1e-9,
                       atol=1e-9)
    assert np.allclose(counts3[:, 2], W / (1.0 - W) * counts3[:, which], rtol=1e-9, atol=1e-9)
    rows, weight = share(which)
    total = np.zeros_like(pend2)
    np.add.at(total.T, rows, pend3.T)   # pending kicks of the split pathways add up
    assert np.allclose(total, pend2, rtol=1e-9, atol=1e-6)


def test_the_dsode_ou_closure_runs_three_populations():
    """Closure "ou" carries a deviation per sender population: with three populations it
    runs, keeps every population's neurons, and its E rate stays near the two-population
    one (the split parts' deviations are carried apart, so not equal: no exact identity)."""
    params = PARAMS.replace(initial_state="uniform")
    setup = engine._Setup(params, dv=2.0, v_low=-40.0, refractory_rule="exponential",
                          moment_integrator="exact", truncate_sd=8.0, noise=None,
                          pending_noise=False, rate_lag=0, closure="ou")
    state2 = setup.initial_state()
    state3 = _split_state(state2, 1)
    counts2, _ = _dsode(params, setup, state2, 400)
    counts3, _ = _dsode(split_tables(params, 1), setup, state3, 400)
    sizes = split_tables(params, 1).sizes
    for q in range(3):
        assert state3[0][q].sum() + state3[2][q] == pytest.approx(sizes[q], rel=1e-9)
    assert counts3[:, 0].sum() == pytest.approx(counts2[:, 0].sum(), rel=0.05)
    assert np.abs(state3[7]).max() > 0.0   # the deviations of all three senders move
    assert (np.abs(state3[7]).max(axis=2) > 0.0).all()


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("noise", [True, False])
def test_the_fokker_planck_step_sums_the_split_senders(which, noise):
    """One Fokker-Planck step of population E with I (or E) as two senders equals the step
    with one (the kicks per ms of the two parts add up to the unsplit pathway's)."""
    n = 60
    faces = PARAMS.threshold - 2.0 * np.arange(n, -1, -1, dtype=float)
    m0 = np.random.default_rng(2).uniform(0.0, 1.0, n)
    m0 /= m0.sum()

    def step(pw_tab, kicks):
        inhibitory = pw_tab[:, PATHWAY_COLUMNS.index("inhibitory")] != 0.0
        post = pw_tab[:, PATHWAY_COLUMNS.index("post")]
        m = m0.copy()
        work = [np.zeros(n + 1), np.zeros(n), np.zeros(n + 1), np.zeros(n), np.zeros(n),
                np.zeros(n)]
        exc = np.flatnonzero((post == 0) & ~inhibitory)
        inh = np.flatnonzero((post == 0) & inhibitory)
        fired = fp._step_population(
            m, faces, 0.1, 2.0, 20.0, 7.0, pw_tab[:, PATHWAY_COLUMNS.index("kick")], kicks,
            np.concatenate([exc, inh]), exc.size, PARAMS.threshold, PARAMS.inhibitory_reversal,
            noise, 0.01, 40, 1.0, 0.0, 0.5, *work)
        return m, fired

    kicks2 = np.array([3.0, 2.0, 4.0, 1.5])
    rows, weight = share(which)
    m2, f2 = step(kernel_pathway_table(PARAMS), kicks2)
    m3, f3 = step(kernel_pathway_table(split_tables(PARAMS, which)), kicks2[rows] * weight)
    assert f2 > 0.0
    assert np.allclose(m3, m2, rtol=1e-12, atol=1e-15) and f3 == pytest.approx(f2, rel=1e-12)


def test_the_stepped_engine_constants_are_per_sender():
    """The stepped engine's per-pathway constants of a K = 3 description: the kind of each
    sender from the pre population's flag (inhibitory kicks times 1/(M + M_r), so that
    times V + M_r they give S g(V)), the consumption rate from the pathway's own τ."""
    t3 = split_tables(PARAMS, 1)
    popc = stepped._population_constants(PARAMS, t3, False)
    assert popc.shape == (3, _sweep.N_POPC, 3)
    span = PARAMS.threshold + PARAMS.inhibitory_reversal
    for q in range(3):
        for p in range(3):
            inh = bool(t3.inhibitory[p])
            assert popc[q, _sweep.P_INH, p] == float(inh)
            s = t3.kick[q, p] / span if inh else t3.kick[q, p]
            assert popc[q, _sweep.P_S, p] == pytest.approx(s, rel=1e-15)
            assert popc[q, _sweep.P_RATE, p] == pytest.approx(PARAMS.dt / t3.tau[q, p])
            assert popc[q, _sweep.P_A, p] == pytest.approx(s * PARAMS.dt / t3.tau[q, p])
    # the split sender's constants are those of the population it copies
    assert np.array_equal(popc[:, :, 2], popc[:, :, 1])
    two = stepped._population_constants(PARAMS, tables(PARAMS), False)
    assert np.array_equal(popc[:2, :, :2], two)
