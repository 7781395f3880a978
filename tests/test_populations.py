"""Populations and pathways as data: one description -> tables step (snnreduce.populations)."""

from __future__ import annotations

import numpy as np
import pytest

from snnreduce import NetworkParams
from snnreduce.dsode import moments
from snnreduce.network import _common
from snnreduce.params import PATHWAYS, POPULATIONS
from snnreduce.populations import (PATHWAY_COLUMNS, PATHWAY_POST, PATHWAY_PRE,
                                   kernel_pathway_table, kernel_population_table, population_of,
                                   tables)

# every pathway different, so a transposed (pre, post) table cannot pass
PARAMS = NetworkParams(n_e=7, n_i=3, lambda_e=6.5, lambda_i=7.5, tau_m=12.0,
                       s_ee=0.9, s_ie=1.2, s_ei=2.7, s_ii=2.4, tau_ee=1.4, tau_ie=1.2,
                       tau_ei=4.5, tau_ii=4.0, p_ee=0.8, p_ie=0.7, p_ei=0.6, p_ii=0.5)


def test_tables_are_indexed_post_pre():
    t = tables(PARAMS)
    assert t.names == POPULATIONS and t.n_populations == 2
    for pw in PATHWAYS:  # "ei": post E, pre I
        post, pre = POPULATIONS.index(pw[0].upper()), POPULATIONS.index(pw[1].upper())
        assert t.kick[post, pre] == PARAMS.s(pw)
        assert t.tau[post, pre] == PARAMS.tau(pw)
        assert t.prob[post, pre] == PARAMS.p(pw)
    assert [PATHWAYS[j] for j in range(4)] == [
        POPULATIONS[q].lower() + POPULATIONS[r].lower() for q, r in zip(PATHWAY_POST, PATHWAY_PRE)]
    assert t.external_rate.tolist() == [6.5, 7.5] and t.sizes.tolist() == [7, 3]
    assert t.inhibitory.tolist() == [False, True]


def test_neurons_map_to_their_population():
    neurons = np.arange(10)
    expected = [0] * 7 + [1] * 3
    assert population_of(neurons, PARAMS).tolist() == expected
    assert tables(PARAMS).population_of(neurons).tolist() == expected
    assert tables(PARAMS).offsets.tolist() == [0, 7, 10]


def test_the_kernel_tables_keep_their_layout():
    # row = post population: what belongs to the population itself
    net = kernel_population_table(PARAMS)
    dsode = moments.population_table(PARAMS)
    assert np.array_equal(net, dsode)
    for q, post in enumerate("ei"):
        assert net[q, _common.COL_LAMBDA] == PARAMS.lam(post.upper())
        assert dsode[q, moments.POP_N] == PARAMS.n[q] and dsode[q, moments.POP_TAU_M] == 12.0
        assert dsode[q, moments.POP_THRESHOLD] == PARAMS.threshold
        assert dsode[q, moments.POP_REVERSAL] == PARAMS.inhibitory_reversal
    # a row per pathway (PATHWAYS order): what a sum over senders needs
    pathway = moments.pathway_table(PARAMS)
    assert pathway.shape == (4, len(PATHWAY_COLUMNS)) and pathway.flags.c_contiguous
    assert np.array_equal(pathway, kernel_pathway_table(PARAMS))
    for j, pw in enumerate(PATHWAYS):   # τ, P, post, pre, kick, inhibitory sender, var factor
        assert pathway[j].tolist() == [PARAMS.tau(pw), PARAMS.p(pw), "EI".index(pw[0].upper()),
                                       "EI".index(pw[1].upper()), PARAMS.s(pw),
                                       float(pw[1] == "i"), 1.0]
    # the closure's variance factor is per pathway (its own τ)
    diffusion = moments.pathway_table(PARAMS, "diffusion")
    assert diffusion[:, moments.TAB_VAR].tolist() == [2.0 * PARAMS.tau(pw) for pw in PATHWAYS]
    assert not moments.pathway_table(PARAMS, "ou")[:, moments.TAB_VAR].any()


def test_spikes_of_uses_the_population_offsets():
    import snnreduce

    result = snnreduce.simulate(NetworkParams(n_e=30, n_i=10), t_end=100.0, seed=2)
    for q, pop in enumerate(POPULATIONS):
        times, local = result.spikes_of(pop)
        assert local.dtype == result.spike_neurons.dtype
        assert times.size == result.population_counts[:, q].sum()
        assert local.min() >= 0 and local.max() < result.params.n[q]
    with pytest.raises(ValueError, match="population must be one of E, I"):
        result.spikes_of("X")


def test_network_and_dsode_kernels_read_one_population_layout():
    # one table (populations.kernel_population_table): the network's COL_* and the dsODE's
    # POP_* name the same columns
    assert _common.N_COLUMNS == kernel_population_table(PARAMS).shape[1]
    assert _common.COL_LAMBDA == moments.POP_LAMBDA
    assert not hasattr(_common, "population_table")
