"""Structure of the figures: what is drawn where, in which colour, with which limits.

No pixel snapshots: each test reads the matplotlib objects back (axes, lines, legends, colour
norms) and checks what a reader relies on — one colour per model, E solid / I dashed, legends
outside the data, a shared colour range, axis limits on the occupied data.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import QuadMesh  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

import snnreduce  # noqa: E402
from snnreduce import models as registry  # noqa: E402
from snnreduce.compare import compare  # noqa: E402
from snnreduce.io import open_netcdf  # noqa: E402
from snnreduce.plot import (LARGE_EVENT_FRACTION, POPULATION_STYLES, bifurcation_figure,  # noqa: E402
                            compare_figure, large_events, occupied_voltage_range, plot_cycle,
                            plot_rates, result_figure)
from snnreduce.result import model_of  # noqa: E402

SMALL = snnreduce.NetworkParams(n_e=60, n_i=20)
SWEEP = Path(__file__).resolve().parents[1] / "docs" / "data" / "sweep_p_ei.nc"


def _plt():
    import matplotlib.pyplot as plt

    return plt


@pytest.fixture(autouse=True)
def close_figures():
    yield
    _plt().close("all")


@pytest.fixture(scope="module")
def comparison():
    return compare(SMALL, seeds=[1, 2], t_end=500.0, n_jobs=1, progress=False)


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _model_by_label(label):
    return next((m for m in registry.MODELS.values() if label.startswith(m.label)), None)


# ----------------------------------------------------------------------------- synthetic runs
def _bursts(t_start=0.0, *, heights=(30, 8), every_ms=30.0, i_lag_ms=2.0, n_steps=6000):
    """E bursts of one step alternating between ``heights`` every ``every_ms`` ms from 120 ms;
    I bursts of 10 spikes ``i_lag_ms`` later."""
    counts = np.zeros((n_steps, 2))
    starts = np.arange(1200, n_steps - 600, int(round(every_ms / 0.1)))
    counts[starts, 0] = np.resize(np.asarray(heights, dtype=float), starts.size)
    counts[starts + int(round(i_lag_ms / 0.1)), 1] = 10.0
    return snnreduce.Result(params=SMALL, engine="stepped", seed=0, t_end=n_steps * 0.1, dt=0.1,
                            population_counts=counts, t_start=t_start)


def test_large_events_are_the_big_peaks_at_absolute_times():
    # the 1 ms box of 11 steps turns each burst into a flat top whose middle is the burst step
    events = large_events(_bursts(), discard=100.0)
    np.testing.assert_allclose(events, np.arange(120.0, 540.0, 60.0))  # heights 30, not 8
    np.testing.assert_allclose(large_events(_bursts(t_start=1000.0)), 1000.0 + events)
    assert LARGE_EVENT_FRACTION * 30 > 8  # the small peaks are below the rule's cut
    flat = _bursts(heights=(0,))
    flat.population_counts[:, 0] = 0.0
    assert large_events(flat).size == 0


def test_rates_aligned_on_the_first_large_event_peak_at_zero():
    fig, ax = _plt().subplots()
    plot_rates(ax, {"snn": _bursts(t_start=500.0)}, "E", align=True, discard=100.0)
    (line,) = ax.get_lines()
    x, y = line.get_data()
    # the 1 ms box makes a flat top of 11 steps centred on the burst; the next large burst
    # is 60 ms later
    top = np.isclose(y, y.max(), rtol=1e-12)
    assert np.mean(x[top & (x < 30)]) == pytest.approx(0.0, abs=1e-9)
    assert np.mean(x[top & (x > 30) & (x < 90)]) == pytest.approx(60.0, abs=1e-9)
    # the burst's 1 ms rate: 1000 * (30 / 11 steps) / (n_e dt) Hz
    assert y.max() == pytest.approx(1000 * 30 / 11 / (SMALL.n_e * 0.1))
    assert line.get_color() == registry.get("snn").colour and line.get_linestyle() == "-"
    assert ax.get_xlim() == (-10.0, 150.0)


def test_average_cycle_of_identical_seeds_has_its_peaks_and_no_band():
    fig, ax = _plt().subplots()
    plot_cycle(ax, {"snn": [_bursts(), _bursts()]}, discard=100.0)
    lines = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
    e, i = lines["network (stepped) E"], lines["network (stepped) I"]
    assert e.get_linestyle() == POPULATION_STYLES["E"] and i.get_linestyle() == POPULATION_STYLES["I"]
    assert e.get_color() == i.get_color() == registry.get("snn").colour
    x, y = e.get_data()
    assert np.mean(x[np.isclose(y, y.max(), rtol=1e-12)]) == pytest.approx(0.0, abs=1e-9)
    assert y.max() == pytest.approx(1000 * 30 / 11 / (SMALL.n_e * 0.1))
    xi, yi = i.get_data()
    # I bursts 2 ms after every E burst: after the large one (lag 2) and the small one (32)
    top = np.isclose(yi, yi.max(), rtol=1e-12)
    assert np.mean(xi[top & (xi < 15)]) == pytest.approx(2.0, abs=1e-9)
    assert np.mean(xi[top & (xi > 15)]) == pytest.approx(32.0, abs=1e-9)
    # two identical runs: the ± sd bands (E and I) have zero width at every lag
    assert len(ax.collections) == 2
    for band in ax.collections:
        vertices = np.concatenate([path.vertices for path in band.get_paths()])
        for lag in np.unique(vertices[:, 0]):
            assert np.ptp(vertices[vertices[:, 0] == lag, 1]) == pytest.approx(0.0, abs=1e-9)


def test_a_flat_rate_is_drawn_from_the_end_of_the_transient_and_as_its_mean():
    flat = snnreduce.Result(params=SMALL, engine="dsode", seed=None, t_end=600.0, dt=0.1,
                            population_counts=np.tile([0.03, 0.01], (6000, 1)),
                            options={"noise": "none"}, t_start=50.0)
    assert large_events(flat).size == 0
    fig, (a, b) = _plt().subplots(1, 2)
    plot_rates(a, {"dsode": flat}, "E", align=True, discard=100.0)
    (line,) = a.get_lines()
    assert line.get_label() == "dsODE (no large event: from the end of the transient)"
    assert line.get_xdata()[0] == pytest.approx(-10.0)  # 150 ms (t_start + discard) is at 0
    plot_cycle(b, {"dsode": flat}, discard=100.0)
    levels = {l.get_label(): l.get_ydata()[0] for l in b.get_lines() if "mean rate" in l.get_label()}
    # 0.03 spikes per 0.1 ms step over 60 E neurons: 5 Hz; 0.01 over 20 I neurons: 5 Hz
    assert levels == {"dsODE E (no large events: mean rate)": pytest.approx(5.0),
                      "dsODE I (no large events: mean rate)": pytest.approx(5.0)}


def test_occupied_voltage_range():
    edges = np.arange(-40.0, 104.0, 4.0)
    density = np.zeros((5, edges.size - 1))
    density[:, 10:30] = 1.0
    density[2, 9] = 0.5e-3  # below a thousandth of the maximum: not occupied
    density[3, 30] = 2e-3
    assert occupied_voltage_range(density, edges) == (edges[10], edges[31])


@pytest.mark.parametrize("engine, options, name", [
    ("stepped", {}, "snn"), ("markov", {}, "markov"),
    ("dsode", {"noise": "none"}, "dsode"), ("dsode", {"noise": "finite-size"}, "dsode-fs"),
    ("fokker-planck", {"finite_size": False}, "fp"),
    ("fokker-planck", {"finite_size": True}, "fp-fs"), ("elsewhere", {}, "elsewhere"),
])
def test_model_of_a_result(engine, options, name):
    result = snnreduce.Result(params=SMALL, engine=engine, seed=None, t_end=1.0, dt=0.1,
                              population_counts=np.zeros((10, 2)), options=options)
    assert model_of(result) == name


# ----------------------------------------------------------------------------- compare.png
def test_compare_figure_panels_colours_and_legend(comparison):
    fig = compare_figure(comparison)
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 6 and all(ax.axison for ax in panels)
    titles = [ax.get_title() for ax in panels]
    assert titles[0].startswith("raster — network (stepped)")
    assert "aligned on the first large E event" in titles[1]
    assert "± sd over seeds" in titles[2] and "± sd over seeds" in titles[3]
    assert "dsODE cycle" not in titles[4] and titles[5].startswith("dsODE E voltage density")
    # the raster is drawn in the network's colour: no population colour competes with a model
    raster = panels[0]
    colours = {tuple(c) for coll in raster.collections for c in coll.get_facecolors()}
    assert colours == {to_rgba(registry.get("snn").colour)}
    # every model line in its registry colour, E solid and I dashed
    model_colours = {to_rgba(m.colour) for m in registry.MODELS.values()}
    for ax in panels[1:5]:
        for line in ax.get_lines():
            model = _model_by_label(line.get_label())
            if model is None:
                assert to_rgba(line.get_color()) not in model_colours or \
                    line.get_label().startswith("_")
                continue
            assert to_rgba(line.get_color()) == to_rgba(model.colour), line.get_label()
            if " I " in line.get_label() + " ":
                assert line.get_linestyle() == "--"
            else:
                assert line.get_linestyle() == "-"
    # the cycle panel shows every model, both populations
    labels = [line.get_label() for line in panels[2].get_lines()]
    for want in ("network (stepped) E", "network (stepped) I", "dsODE E", "Markov surrogate I"):
        # a model without large events (here the dsODE's fixed point) is its mean-rate level
        assert any(label == want or label.startswith(want + " (no large events")
                   for label in labels), want
    # one legend, outside every panel, naming each model with its seeds
    (legend,) = fig.legends
    box = legend.get_window_extent()
    assert not any(_overlaps(box, ax.get_window_extent()) for ax in fig.axes)
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts[0].startswith("network (stepped), 2 seeds") and texts[2].startswith("dsODE,")
    assert not any(ax.get_legend() for ax in panels)


def test_compare_figure_attractor_draws_the_dsode_cycle_on_top(comparison):
    fig = compare_figure(comparison)
    attractor = [ax for ax in fig.axes if ax.get_title().startswith("attractor")][0]
    lines = {line.get_label(): line for line in attractor.get_lines()}
    dsode, network = lines["dsODE"], lines["network (stepped)"]
    assert dsode.get_zorder() > network.get_zorder()
    assert dsode.get_linewidth() > 2 * network.get_linewidth() and dsode.get_path_effects()
    assert network.get_alpha() < 1


def test_compare_figure_density_spans_the_occupied_voltages(comparison):
    fig = compare_figure(comparison)
    ax = [a for a in fig.axes if a.get_title().startswith("dsODE E voltage density")][0]
    result = comparison.results["dsode"][0]
    edges = result.records["bin_edges"]
    low, high = ax.get_ylim()
    assert low > edges[0] and high <= edges[-1]
    # what is left out is (nearly) empty: below a thousandth of the panel's maximum
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    shown = np.asarray(mesh.get_array()).reshape(edges.size - 1, -1)
    outside = (edges[1:] <= low) | (edges[:-1] >= high)
    assert shown[outside].max(initial=0.0) <= 1e-3 * shown.max()
    assert shown[~outside].max() == shown.max()


# ----------------------------------------------------------------------------- plot command
def test_result_figure_of_a_dsode_run_names_no_seed_and_keeps_the_legend_off_the_data():
    result = snnreduce.reduce(SMALL, t_end=300.0)
    fig = result_figure(result)
    fig.canvas.draw()
    title = fig._suptitle.get_text()
    assert "seed" not in title and "None" not in title and title.startswith("dsODE")
    rates = [ax for ax in fig.axes if ax.get_title() == "population rates"][0]
    legend = rates.get_legend()
    assert not _overlaps(legend.get_window_extent(), rates.get_window_extent())
    styles = {line.get_label(): line.get_linestyle() for line in rates.get_lines()}
    assert styles == {"E": "-", "I": "--"}
    assert {line.get_color() for line in rates.get_lines()} == {registry.get("dsode").colour}


def test_result_figure_of_a_continued_run_is_at_absolute_times():
    result = _bursts(t_start=1000.0)
    fig = result_figure(result)
    stop = 1000.0 + result.t_end
    for ax in fig.axes:
        assert ax.get_xlim() == pytest.approx((stop - 300.0, stop))
    assert "t = 1000–1600 ms" in fig._suptitle.get_text() and "seed 0" in fig._suptitle.get_text()


# ----------------------------------------------------------------------------- bifurcation.png
@pytest.fixture(scope="module")
def sweep_ds():
    return open_netcdf(SWEEP, "sweep").isel(p_ei=slice(0, None, 5))


def test_bifurcation_histograms_share_one_colour_range(sweep_ds):
    fig = bifurcation_figure(sweep_ds, "p_ei")
    meshes = [c for ax in fig.axes if ax.get_label() != "<colorbar>" for c in ax.collections
              if isinstance(c, QuadMesh)]
    assert len(meshes) == 2
    assert sum(ax.get_label() == "<colorbar>" for ax in fig.axes) == 1  # one colour bar for both
    assert {(m.norm.vmin, m.norm.vmax) for m in meshes} == {(meshes[0].norm.vmin,
                                                             meshes[0].norm.vmax)}
    # fractions of each value's differences: every column sums to 1 where it has any
    for mesh in meshes:
        values = np.ma.filled(np.asarray(mesh.get_array(), dtype=float).reshape(120, -1), np.nan)
        sums = np.nansum(values, axis=0)
        np.testing.assert_allclose(sums[sums > 0], 1.0)
    titles = [ax.get_title() for ax in fig.axes]
    assert "network (stepped), 3 seeds pooled" in titles and "dsODE" in titles
    assert "rates (mean ± sd over seeds)" in titles


def test_bifurcation_of_a_dsode_only_sweep_has_no_empty_panel(sweep_ds):
    fig = bifurcation_figure(sweep_ds.sel(model=["dsode"]), "p_ei")
    assert len(fig.axes) == 4  # histogram, rates, SSI, colour bar
    assert all(ax.axison for ax in fig.axes)
    titles = [ax.get_title() for ax in fig.axes]
    assert "rates" in titles and not any("mean ± sd" in t or "network" in t for t in titles)
    hist = [ax for ax in fig.axes if ax.get_title() == "dsODE"][0]
    rates = [ax for ax in fig.axes if ax.get_title() == "rates"][0]
    # the histogram spans both rows of the right column
    assert hist.get_position().height > 1.8 * rates.get_position().height


def test_density_of_sampled_records_spans_the_run():
    # bin_count kept every 1 ms (10 steps): 60 rows for 600 steps, drawn over the same times
    edges = np.linspace(-40.0, 100.0, 36)
    counts = np.zeros((60, 2, 35))
    counts[:, 0, 12], counts[:, 1, 12] = SMALL.n_e, SMALL.n_i
    result = snnreduce.Result(params=SMALL, engine="dsode", seed=None, t_end=60.0, dt=0.1,
                              population_counts=np.zeros((600, 2)), t_start=100.0,
                              records={"bin_count": counts, "bin_edges": edges},
                              options={"noise": "none", "record_every": 1.0})
    fig = result_figure(result)
    density = [ax for ax in fig.axes if "voltage density" in ax.get_title()][0]
    mesh = next(c for c in density.collections if isinstance(c, QuadMesh))
    x = mesh.get_coordinates()[0, :, 0]
    np.testing.assert_allclose(x, 100.0 + np.arange(61.0))
    assert density.get_ylim() == (edges[12], edges[13])
