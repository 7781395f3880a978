"""The one-parameter bifurcation diagram of the dsODE: the recipe of ``snnreduce continue``.

:func:`continue_parameter` continues, over ``[start, stop]`` of one NetworkParams field:

1. the stationary state (fixed point of the step map), from a transient at ``start``;
2. the period-1 cycle (fixed point of the return map), from a transient at the first of
   ``start``, just past a Hopf point of the stationary branch, ``stop``, where the dsODE
   oscillates — continued to both ends of the range;
3. the period-2 cycle (fixed point of the twice-iterated return map) through the simulated
   period-2 attractor just past every period-doubling point of a cycle branch, to both
   ends (it ends where it merges back into the period-1 branch);
4. **probes for branches not yet found**: at a few parameter values spread over the range
   and just beyond every turning point (fold) of a cycle branch, the dsODE is run from its
   default initial state; where it settles on an attractor that lies on no stable part of a
   computed branch (E rate and period, or rate alone for a stationary state, differ by more
   than :data:`MATCH_TOLERANCE`), a new branch is started there and continued both ways
   (and probed and period-doubled in turn). Under closure "diffusion" this finds the second
   cycle family that the gamma cycle jumps to at its fold, and its period doubling.

A cycle branch ends at its first turning point in the parameter (the unstable period-1 cycle
of the reference preset winds back and forth there, see docs/continuation.md).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np

from ..analysis.peaks import pooled_peak_differences
from ..dsode.state import map_options
from ..params import NetworkParams, ParameterError
from .branch import Branch, SpecialPoint, continue_branch
from .newton import newton
from .orbits import _average_state, _oscillating, section_problem, transient
from .problems import CONTINUABLE, StepProblem

__all__ = ["Diagram", "continue_parameter", "diagram_figure", "PEAK_LIMIT", "Attractor",
           "simulated_attractor", "on_a_branch", "MATCH_TOLERANCE"]

#: Relative difference of E rate and period below which a simulated attractor counts as
#: lying on a computed branch (transients of 1 s settle to ~1e-3 away from bifurcations; two
#: cycle families of the reference preset differ by > 20 % in period).
MATCH_TOLERANCE = 0.03
#: Probes spread over the range (besides those beyond turning points), and probes at most.
_SPREAD_PROBES = 4
_MAX_PROBES = 12

#: Kind of the marker where the smaller burst of a period-2 cycle falls below the mean of the
#: smoothed E count, the default height of :func:`snnreduce.analysis.peak_sequence`: a
#: brute-force peak-difference diagram stops seeing period 2 there. Not a bifurcation.
PEAK_LIMIT = "peak-detection limit"


@dataclass
class Diagram:
    """Branches and special points of one continuation run.

    Attributes
    ----------
    params : NetworkParams
        The base parameters (the continued field varies along the branches).
    parameter : str
        Continued field.
    start, stop : float
        Range.
    options : dict
        dsODE options used.
    branches : list of Branch
    notes : list of str
        What was tried and not found.
    wall_time : float
        Seconds.
    version : str
    """

    params: NetworkParams
    parameter: str
    start: float
    stop: float
    options: dict
    branches: list
    notes: list = field(default_factory=list)
    wall_time: float = 0.0
    version: str = ""

    def special_points(self):
        """``(branch index, SpecialPoint)`` of every branch, in branch order."""
        return [(i, sp) for i, b in enumerate(self.branches) for sp in b.special]

    def to_dict(self) -> dict:
        """Plain JSON-able content (branches, special points, provenance)."""
        branches = []
        for b in self.branches:
            info = [pt.info for pt in b.points]
            branches.append({
                "kind": b.kind, "stop_reason": b.stop_reason,
                "parameter": [pt.parameter for pt in b.points],
                "stable": [pt.stable for pt in b.points],
                "period_ms": [i.get("period_ms") for i in info],
                "rate_e_hz": [i.get("rate_e_hz") for i in info],
                "rate_i_hz": [i.get("rate_i_hz") for i in info],
                "peak_difference": [i.get("peak_difference") for i in info],
                "peak_heights": [i.get("peak_heights") for i in info],
                "max_multiplier_modulus": [float(np.abs(pt.multipliers).max())
                                           for pt in b.points],
            })
        special = [{"type": sp.kind, "parameter": sp.parameter, "branch": i,
                    "branch_kind": self.branches[i].kind,
                    "multiplier": [float(np.real(sp.multiplier)), float(np.imag(sp.multiplier))]}
                   for i, sp in self.special_points()]
        return {"format": "snnreduce-continuation/1", "parameter": self.parameter,
                "range": [self.start, self.stop], "params": self.params.to_dict(),
                "options": {k: v for k, v in self.options.items()},
                "engine": "dsode (deterministic)", "version": self.version,
                "wall_time_s": self.wall_time, "branches": branches,
                "special_points": special, "notes": self.notes}

    def save_json(self, path) -> None:
        """Write :meth:`to_dict` as JSON atomically."""
        from .._files import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))


def _validate(params, parameter, start, stop):
    if not isinstance(params, NetworkParams):
        raise ParameterError(f"params must be a NetworkParams, got {type(params).__name__}")
    if parameter not in CONTINUABLE:
        known = parameter in NetworkParams.__dataclass_fields__
        raise ParameterError(
            (f"parameter {parameter!r} cannot be continued (it is discrete or changes the "
             "state's size or the step); " if known else f"unknown parameter {parameter!r}; ")
            + f"continuable: {', '.join(CONTINUABLE)}")
    for name, value in (("start", start), ("stop", stop)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not np.isfinite(value):
            raise ParameterError(f"{name} must be a number, got {value!r}")
    if start == stop:
        raise ParameterError(f"the range of {parameter} is empty ({start:g} to {stop:g})")
    for value in (start, stop):
        params.replace(**{parameter: float(value)})  # ParameterError names the bound


def _turning_stop(direction, name):
    """A stop rule: end a branch once the parameter turns back (first turning point)."""
    state = {"best": None}

    def stop(u, p):
        best = state["best"]
        if best is None or direction * (p - best) > 0:
            state["best"] = p
            return None
        if direction * (p - best) < -1e-6:
            return f"turning point at {name} ≈ {best:.5g}"
        return None

    return stop


def _peak_limits(branch: Branch, merge: float = 0.005):
    """Where the smaller peak of a period-2 branch crosses the peak detector's height.

    Only where the branch is stable on one side (elsewhere no simulation shows the cycle, so
    a brute-force diagram cannot lose it there) and only the first of crossings closer than
    ``merge`` in the parameter (the margin wobbles about zero where the branch turns).
    """
    out = []
    pts = branch.points
    for i in range(1, len(pts)):
        a, b = pts[i - 1].info.get("peak_margin"), pts[i].info.get("peak_margin")
        if a is None or b is None or np.sign(a) == np.sign(b) \
                or not (pts[i - 1].stable or pts[i].stable):
            continue
        if out and abs(pts[i].parameter - out[-1].parameter) < merge:
            continue
        f = a / (a - b)
        p = pts[i - 1].parameter + f * (pts[i].parameter - pts[i - 1].parameter)
        out.append(SpecialPoint(PEAK_LIMIT, float(p), complex(np.nan), pts[i].u,
                                np.zeros(0), i - 1))
    return out


def continue_parameter(params: NetworkParams, parameter: str, start: float, stop: float, *,
                       options: dict | None = None, t_transient: float = 1000.0,
                       step: float = 0.02, max_points: int = 120, fixed_points: bool = True,
                       cycles: bool = True, progress=None) -> Diagram:
    """Bifurcation diagram of the deterministic dsODE over ``parameter`` in [start, stop].

    Parameters
    ----------
    params : NetworkParams
        The network (pathways post-pre: ``p_ei`` is I -> E).
    parameter : str
        A field of :data:`~snnreduce.continuation.problems.CONTINUABLE`.
    start, stop : float
        Range of the parameter.
    options : dict, optional
        dsODE options (``dv``, ``refractory_rule``, ...), passed through untouched.
    t_transient : float
        Transient (ms) of the runs that give the first guesses.
    step : float
        First arclength step, fraction of the range.
    max_points : int
        Points per branch at most.
    fixed_points, cycles : bool
        Which branches to compute.
    progress : callable, optional
        ``progress(message)`` after each branch.

    Returns
    -------
    Diagram
    """
    from .._version import __version__

    t0 = time.perf_counter()
    _validate(params, parameter, start, stop)
    start, stop = float(start), float(stop)
    options = map_options(options or {})
    direction = 1.0 if stop > start else -1.0
    say = progress or (lambda message: None)
    branches, notes = [], []
    kw = {"parameter_name": parameter, "step": step, "max_points": max_points}

    p_start = params.replace(**{parameter: start})
    x0, h_tail = transient(p_start, t_transient, **options)
    if fixed_points:
        # a second guess from a run twice as long where Newton fails on the first: under
        # closure "ou-cond-linear" at p_ei = 0.5 the averaged state of the 1000 ms transient
        # starts Newton where it stalls at residual 1.4e-7; from 2000 ms it converges
        for attempt in range(2):
            x_guess, h_guess = ((x0, h_tail) if attempt == 0 else
                                transient(p_start, 2 * t_transient, **options))
            guess = (_average_state(p_start, options, x_guess) if _oscillating(h_guess)
                     else x_guess)
            prob = StepProblem(params, parameter, options, x_ref=guess)
            fp = continue_branch(prob, prob.to_scaled(guess), start, stop,
                                 kind="fixed point", **kw)
            if fp.points:
                break
        if fp.points:
            branches.append(fp)
        else:
            notes.append(f"stationary state: {fp.stop_reason}")
        say(f"fixed point branch: {len(fp.points)} points, {fp.stop_reason}")

    if cycles:
        hopf = [sp.parameter for b in branches for sp in b.special if sp.kind == "hopf"]
        tries = [start] + [h + 0.02 * direction * abs(stop - start) for h in hopf] + [stop]
        for p_c in tries:
            cyc = _cycle_branches(params, parameter, options, p_c, start, stop, direction,
                                  t_transient, kw)
            if cyc:
                say(f"cycle branch from {parameter} = {p_c:g}: "
                    + "; ".join(f"{len(b.points)} points, {b.stop_reason}" for b in cyc))
                _add_cycle_branches(cyc, branches, notes, params, parameter, options, start,
                                    stop, direction, t_transient, kw, say)
                break
        else:
            notes.append("no cycle found: the dsODE did not oscillate at "
                         + ", ".join(f"{p:g}" for p in tries))
        _probe(branches, notes, params, parameter, options, start, stop, direction,
               t_transient, kw, say, fixed_points)
    return Diagram(params, parameter, start, stop, options, branches, notes,
                   time.perf_counter() - t0, __version__)


def _stable_on_one_side(branch: Branch, special: SpecialPoint) -> bool:
    """Whether the branch is stable just before or just after ``special``."""
    pts = branch.points
    after = min(special.index + 1, len(pts) - 1)
    return bool(pts[special.index].stable or pts[after].stable)


def _add_cycle_branches(new, branches, notes, params, parameter, options, start, stop,
                        direction, t_transient, kw, say):
    """Append the cycle branches ``new``, and for every period doubling of a period-1 branch
    with a stable side the period-2 branches through the simulated attractor just past it."""
    branches += new
    for sp in [s for b in new if b.kind == "cycle" for s in b.special
               if s.kind == "period-doubling" and _stable_on_one_side(b, s)]:
        # the doubled branch from the simulated period-2 attractor just past the point
        # (only where the cycle is stable on one side: a crossing between two unstable
        # points, e.g. past the paper closure's fold at 0.843, gives no attractor of its
        # own and the simulation lands on a period-2 branch already continued)
        # (normal-form switching, switch_period_doubling, lands on other P∘P solutions
        # here: the period-2 amplitude grows too steeply past the reference PD point)
        p_sim = sp.parameter + 0.025 * direction * abs(stop - start)
        doubled = _cycle_branches(params, parameter, options, p_sim, start, stop,
                                  direction, t_transient, kw, iterates=2)
        for d2 in doubled:
            d2.special += _peak_limits(d2)
        branches += doubled
        if not doubled:
            notes.append(f"period-2 branch near {sp.parameter:.5g}: no period-2 cycle "
                         f"found at {parameter} = {p_sim:.5g}")
        say(f"period-2 branch through {parameter} = {p_sim:.5g}: "
            + "; ".join(f"{len(b.points)} points, {b.stop_reason}" for b in doubled))


@dataclass
class Attractor:
    """Where a long run of the deterministic dsODE from its default initial state settles.

    Attributes
    ----------
    parameter : float
        Value of the continued parameter.
    oscillating : bool
        Whether it oscillates (``h^{EE}`` varies by more than 1e-3 of its mean).
    rate_e_hz : float
        Mean E rate over the last ``window`` ms, Hz per neuron.
    period_ms : float or None
        Mean return time to the section ``h^{EE} = sqrt(min · max)`` crossed upward, ms
        (None when not oscillating).
    """

    parameter: float
    oscillating: bool
    rate_e_hz: float
    period_ms: float | None


def simulated_attractor(params: NetworkParams, parameter: str, value: float, options: dict,
                        t_transient: float = 1000.0, window: float = 300.0) -> Attractor:
    """The attractor reached at ``parameter = value``: a ``t_transient`` ms run from the
    default initial state, then ``window`` ms measured: the E rate and the mean interval
    between upward crossings of ``h^{EE} = sqrt(min · max)`` (the return time of the section
    the cycle branches use; both bursts of a period-2 cycle cross it)."""
    from ..dsode.state import StateMap

    here = params.replace(**{parameter: float(value)})
    x, h_tail = transient(here, t_transient, **options)
    m = StateMap(here, **options)
    counts, rec = m.advance(m.from_vector(x), int(round(window / here.dt)),
                            record=("pending",))
    rate = float(counts[:, 0].mean() / (here.n[0] * here.dt) * 1000.0)
    g = rec["pending"][:, 0] / here.n[0]
    period = None
    if _oscillating(h_tail) and g.min() > 0:
        level = float(np.sqrt(g.min() * g.max()))
        up = np.nonzero((g[:-1] < level) & (g[1:] >= level))[0]
        if up.size > 1:
            period = float(np.mean(np.diff(up)) * here.dt)
    return Attractor(float(value), period is not None, rate, period)


def _close(a, b, tol):
    return a is not None and b is not None and abs(a - b) <= tol * max(abs(a), abs(b), 1e-12)


def on_a_branch(att: Attractor, branches, tol: float = MATCH_TOLERANCE) -> bool:
    """Whether ``att`` lies on a stable part of one of ``branches``.

    A branch matches where two successive points bracket ``att.parameter``, one of them is
    stable and the values interpolated between them agree within ``tol`` (relative): for a
    stationary state the E rate, for a cycle the E rate and the return time (the branch's
    period over its number of returns — or the whole period: where the smaller burst of a
    period-2 cycle stays below the run's own section level only one burst crosses it).
    """
    for b in branches:
        cycle = b.kind != "fixed point"
        if cycle != att.oscillating:
            continue
        iterates = getattr(b.problem, "iterates", 1)
        pts = b.points
        for a, c in zip(pts[:-1], pts[1:]):
            lo, hi = sorted((a.parameter, c.parameter))
            if not (lo <= att.parameter <= hi) or not (a.stable or c.stable):
                continue
            f = 0.0 if hi == lo else (att.parameter - a.parameter) / (c.parameter - a.parameter)

            def at(key):
                va, vc = a.info.get(key), c.info.get(key)
                return None if va is None or vc is None else va + f * (vc - va)

            if not _close(at("rate_e_hz"), att.rate_e_hz, tol):
                continue
            if not cycle:
                return True
            period = at("period_ms")
            if period is not None and any(_close(period / k, att.period_ms, tol)
                                          for k in {iterates, 1}):
                return True
    return False


def _beyond_turning_points(branches, start, stop, step):
    """Parameter values just beyond the last point of every cycle branch that ended at a
    turning point (the branch does not continue there: the dsODE goes somewhere else)."""
    out = []
    lo, hi = min(start, stop), max(start, stop)
    for b in branches:
        if b.kind == "fixed point" or not b.stop_reason.startswith("turning point") \
                or len(b.points) < 2:
            continue
        ps = b.parameters
        d = 1.0 if ps[-1] > ps[0] else -1.0  # direction the branch travelled in
        turn = float(ps.max() if d > 0 else ps.min())
        value = turn + d * step
        if lo <= value <= hi:
            out.append(value)
    return out


def _probe(branches, notes, params, parameter, options, start, stop, direction, t_transient,
           kw, say, fixed_points):
    """Step 4 of :func:`continue_parameter`: start branches where simulations land off the
    computed ones (see the module docstring)."""
    span = abs(stop - start)
    queue = [start + (i + 0.5) / _SPREAD_PROBES * (stop - start)
             for i in range(_SPREAD_PROBES)]
    queue += _beyond_turning_points(branches, start, stop, 0.02 * span)
    done = []
    while queue and len(done) < _MAX_PROBES:
        value = queue.pop(0)
        if any(abs(value - d) < 1e-3 * span for d in done):
            continue
        done.append(value)
        try:
            att = simulated_attractor(params, parameter, value, options, t_transient)
        except (ParameterError, FloatingPointError):
            continue
        if on_a_branch(att, branches):
            continue
        if not att.oscillating:
            if not fixed_points:
                continue
            new = _stationary_branches(params, parameter, options, value, start, stop,
                                       t_transient, kw)
            branches += new
        else:
            before = len(branches)
            new = []
            for iterates in (1, 2):  # period 2: the simulation may sit on a doubled cycle
                new = _cycle_branches(params, parameter, options, value, start, stop,
                                      direction, t_transient, kw, iterates=iterates)
                if new and iterates == 2:
                    for d2 in new:
                        d2.special += _peak_limits(d2)
                if new and any(on_a_branch(att, [b]) for b in new):
                    break
            _add_cycle_branches(new, branches, notes, params, parameter, options, start,
                                stop, direction, t_transient, kw, say)
            queue += _beyond_turning_points(branches[before:], start, stop, 0.02 * span)
        say(f"probe at {parameter} = {value:.5g} (E {att.rate_e_hz:.1f} Hz, return time "
            f"{att.period_ms if att.period_ms is None else round(att.period_ms, 2)} ms) "
            f"off the branches: " + ("; ".join(f"new {b.kind} branch, {len(b.points)} "
                                               f"points, {b.stop_reason}" for b in new)
                                     or "no new branch converged"))
        if not new:
            notes.append(f"the dsODE at {parameter} = {value:.5g} settles on an attractor "
                         "off the computed branches, but no branch could be started there")


def _stationary_branches(params, parameter, options, value, start, stop, t_transient, kw):
    """A stationary-state branch through the state a transient at ``value`` settles on,
    continued to both ends."""
    here = params.replace(**{parameter: float(value)})
    x, _ = transient(here, t_transient, **options)
    out = []
    for end in (stop, start):
        prob = StepProblem(params, parameter, options, x_ref=x)
        b = continue_branch(prob, prob.to_scaled(x), value, end, kind="fixed point", **kw)
        if b.points:
            out.append(b)
    return out


def _cycle_branches(params, parameter, options, p_c, start, stop, direction, t_transient,
                    kw, iterates=1):
    """Cycle branch(es) through ``p_c`` continued to both ends of the range; [] if the dsODE
    does not oscillate at ``p_c`` or Newton fails there. ``iterates = 2``: the period-2
    cycle (a doubled branch ends where it merges back with the period-1 one)."""
    from .branch import _merge_rule

    try:
        p_here = params.replace(**{parameter: float(p_c)})
    except ParameterError:
        return []
    x, h_tail = transient(p_here, t_transient, **options)
    if not _oscillating(h_tail) or h_tail.min() <= 0:
        return []
    problem = section_problem(params, parameter, options, x, h_tail, iterates)
    y, _ = problem._return(problem.statemap(p_c), x)
    u = problem.to_scaled(y)
    first = newton(lambda v: problem.image(v, p_c) - v, u, max_iter=40,
                   jacobian=lambda v: problem.jacobian(v, p_c) - np.eye(v.size))
    if not first.converged:
        return []
    if iterates > 1 and np.max(np.abs(problem.image(first.u, p_c, iterates=1) - first.u)) < 1e-6:
        return []  # Newton found the period-1 cycle
    kind = "cycle" if iterates == 1 else f"period-{iterates} cycle"
    out = []
    for end in (stop, start):
        if end == p_c:
            continue
        d = 1.0 if end > p_c else -1.0
        branch_problem = problem.copy()
        rule = _turning_stop(d, parameter)
        if iterates > 1:
            rule = _merge_rule(branch_problem, rule)
        b = continue_branch(branch_problem, first.u, p_c, end, kind=kind, stop=rule, **kw)
        if b.points:
            out.append(b)
    return out


def diagram_figure(diagram: Diagram, network=None, network_model: str = "snn"):
    """Branches over the parameter: E peak-difference amplitude (±, left) and E rate (right).

    Stable parts solid, unstable dashed; special points marked. With ``network`` (a sweep
    Dataset over the same parameter, see :func:`snnreduce.sweep.load_sweep`), the network's
    successive-peak-difference histogram is drawn under the left panel.
    """
    import matplotlib

    if not matplotlib.get_backend():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    fig, (ax, ax_rate) = plt.subplots(1, 2, figsize=(13, 5), constrained_layout=True,
                                      gridspec_kw={"width_ratios": [1.4, 1]})
    name = diagram.parameter
    if network is not None:
        _network_histogram(ax, fig, network, name, network_model, LogNorm)
    colours = {"fixed point": "tab:green", "cycle": "tab:blue", "period-2 cycle": "tab:red"}
    for b in diagram.branches:
        x = b.parameters
        amp = np.array([pt.info.get("peak_difference") or 0.0 for pt in b.points])
        rate = np.array([pt.info.get("rate_e_hz", np.nan) for pt in b.points])
        stable = b.stable
        colour = colours.get(b.kind, "k")
        for lo, hi, ok in _runs(stable):
            style = "-" if ok else "--"
            sl = slice(lo, hi + 1)
            label = f"{b.kind} ({'stable' if ok else 'unstable'})"
            ax.plot(x[sl], amp[sl], style, color=colour, lw=2, label=label)
            if np.any(amp[sl] > 0):
                ax.plot(x[sl], -amp[sl], style, color=colour, lw=2)
            ax_rate.plot(x[sl], rate[sl], style, color=colour, lw=2, label=label)
    markers = {"period-doubling": "o", "fold": "s", "branch point": "D", "hopf": "*",
               "neimark-sacker": "^", PEAK_LIMIT: "x"}
    for i, sp in diagram.special_points():
        m = markers.get(sp.kind, "o")
        ax.axvline(sp.parameter, color="0.6", lw=0.6, ls=":")
        ax.plot([sp.parameter], [0.0], m, color="k", ms=8, mfc="none",
                label=f"{sp.kind} {sp.parameter:.4f}")
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    # in the rate panel's upper right (rates fall along every branch: it stays empty), so
    # that it hides nothing of the branches over the histogram
    ax_rate.legend(uniq.values(), uniq.keys(), fontsize=7, loc="upper right", framealpha=0.85)
    ax.set(xlabel=name, ylabel="Δ E peak height (spikes/ms)",
           title=f"dsODE continuation (closure {diagram.options.get('closure')})"
           + (" over the network's peak differences" if network is not None else ""),
           xlim=(min(diagram.start, diagram.stop), max(diagram.start, diagram.stop)))
    ax_rate.set(xlabel=name, ylabel="E rate (Hz/neuron)", title="E rate along the branches")
    return fig


def _runs(flags):
    """(first, last, value) of the runs of equal values; neighbours share end points."""
    out = []
    lo = 0
    for i in range(1, len(flags) + 1):
        if i == len(flags) or flags[i] != flags[lo]:
            out.append((lo, min(i, len(flags) - 1), bool(flags[lo])))
            lo = i
    return out


def _network_histogram(ax, fig, ds, param, model, LogNorm):
    if param not in ds.dims:
        raise ParameterError(f"the network sweep is not over {param} (its dimensions: "
                             f"{', '.join(ds.dims)})")
    models = list(ds["model"].values)
    if model not in models:
        model = next((m for m in ("snn", "markov", "surrogate", "dsode-fs") if m in models),
                     models[0])
    diffs = pooled_peak_differences(ds, param, model)
    x = np.asarray(ds[param].values, dtype=float)
    span = max(max((np.abs(d).max() for d in diffs if d.size), default=1.0), 1e-9) * 1.05
    y_edges = np.linspace(-span, span, 121)
    mid = (x[1:] + x[:-1]) / 2
    x_edges = np.concatenate([[x[0] - (mid[0] - x[0])], mid, [x[-1] + (x[-1] - mid[-1])]]) \
        if x.size > 1 else np.array([x[0] - 0.5, x[0] + 0.5])
    hist = np.array([np.histogram(d, bins=y_edges)[0] for d in diffs], dtype=float)
    hist[hist == 0] = np.nan
    vmax = np.nanmax(hist) if np.isfinite(hist).any() else 10.0
    mesh = ax.pcolormesh(x_edges, y_edges, hist.T, shading="flat", cmap="Greys",
                         norm=LogNorm(vmin=1, vmax=max(vmax, 1.0)), alpha=0.7)
    fig.colorbar(mesh, ax=ax, label=f"{model}: successive peaks (count, log)")
