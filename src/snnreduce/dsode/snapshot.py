"""The full state of a dsODE run, and the dicts it is handed in and out as.

:class:`DsodeState` holds the kernel's arrays (everything a step reads and writes).
:func:`final_state` turns it into the ``final_state`` dict of a run (numeric arrays plus the
finite-size random stream as JSON text) and :func:`start_state` turns a run's
``initial_state`` — None (the parameters' "rest" / "uniform"), neurons per bin, or such a
dict — back into a validated state: continuing from ``final_state`` reproduces one run over
the whole span bit for bit (tests/test_dsode_continue.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .._resume import resumed_step, rng_text, state_array
from ..params import POPULATIONS, ParameterError

__all__ = ["DsodeState", "final_state", "start_state", "ARRAYS"]

#: The array fields of a state, in the kernel's argument order.
ARRAYS = ("n", "vm", "refr", "line", "h", "var", "last", "eta", "eta_r")
#: ``final_state["engine"]`` of a dsODE run (a dict of another engine is refused).
ENGINE = "dsode"


@dataclass
class DsodeState:
    """One state of the dsODE (the kernel's arrays; modified in place by steps).

    Attributes
    ----------
    n, vm : ndarray, shape (2, K)
        Neurons and mean voltage per bin (population E, I).
    refr : ndarray, shape (2,)
        Refractory pool per population.
    line : ndarray, shape (2, L)
        Delay line of the fixed refractory rule (indexed by global step modulo L).
    h, var : ndarray, shape (4,)
        Mean and variance of the pending kicks per pathway (ee, ie, ei, ii; post-pre).
    last : ndarray, shape (2,)
        The previous step's spike counts (used with ``rate_lag=1``).
    eta : ndarray, shape (2, 2, K)
        Closure "ou": mean pending-kick deviation of the neurons of each bin (population,
        kind of sender E/I, bin); zeros for the other closures.
    eta_r : ndarray, shape (2, 2, L)
        Closure "ou": summed deviation of the refractory pool (slot 0) or of each slot of the
        fixed rule's delay line.
    step : int
        Global index of the next step (the delay line's phase).
    """

    n: np.ndarray
    vm: np.ndarray
    refr: np.ndarray
    line: np.ndarray
    h: np.ndarray
    var: np.ndarray
    last: np.ndarray
    eta: np.ndarray
    eta_r: np.ndarray
    step: int = 0

    def copy(self) -> "DsodeState":
        return DsodeState(*(a.copy() for a in self.arrays()), self.step)

    def arrays(self):
        return tuple(getattr(self, name) for name in ARRAYS)


def final_state(state: DsodeState, *, t_origin: float, dt: float, rng=None) -> dict:
    """The ``final_state`` dict of a run that ended in ``state``, on the grid ``t_origin +
    k dt``.

    Keys: the arrays of :class:`DsodeState` (copies), ``step`` (0-d int64: global index of
    the next step), ``t_origin`` and ``time`` (0-d float64, ms: the grid's origin and the
    end, ``t_origin + step dt``), ``engine`` ("dsode") and, for a finite-size run (``rng``
    given), ``rng``: JSON text of its bit generator's state.
    """
    out = {name: np.array(a, dtype=np.float64) for name, a in zip(ARRAYS, state.arrays())}
    out["step"] = np.array(state.step, dtype=np.int64)
    out["t_origin"] = np.array(float(t_origin))
    out["time"] = np.array(float(t_origin + state.step * dt))
    out["engine"] = ENGINE
    if rng is not None:
        out["rng"] = rng_text(rng)
    return out


def _bad(message: str):
    raise ParameterError(f"initial_state: {message}")


def _check_mass(n, refr, sizes, what):
    for q, size in enumerate(sizes):
        total = float(n[q].sum() + refr[q])
        if abs(total - size) > 1e-9 * max(size, 1):
            _bad(f"{what} of population {POPULATIONS[q]} must hold its {size} neurons, "
                 f"got {total:.12g}")


def start_state(initial_state, *, n_bins: int, line_steps: int, sizes, edges, default,
                t_start: float, dt: float, n_pathways: int = 4
                ) -> tuple[DsodeState, str | None, str]:
    """The state a run starts from, validated.

    Parameters
    ----------
    initial_state : None, array_like (2, n_bins) or dict
        None: ``default()`` (the parameters' "rest" / "uniform" state). An array: neurons per
        bin of E and I (each row >= 0, summing to the population size; mean voltages at the
        bin centres, nobody refractory, no pending kicks). A dict: a previous run's
        :func:`final_state` (exact continuation; its ``time`` must be ``t_start``).
    n_bins, line_steps : int
        The run's bins and delay-line length (a final state of other options is refused).
    sizes : sequence of int
        Neurons per population (N_E, N_I).
    edges : ndarray, shape (n_bins + 1,)
        Bin edges (the centres are an array state's mean voltages).
    default : callable
        Returns the parameters' initial state (a tuple of the arrays of ARRAYS); called only
        when ``initial_state`` is None (a finite-size "uniform" state draws from the stream).
    t_start, dt : float
        Absolute start time and step of the run, ms.
    n_pathways : int
        Pathways (rows of the pathway table).

    Returns
    -------
    state : DsodeState
    rng_text : str or None
        ``final_state["rng"]`` if the dict has one (the finite-size stream to resume).
    kind : str
        What the run started from: "params" (``params.initial_state``), "array" or
        "final_state".
    """
    n_pop, n_pw = len(sizes), n_pathways
    shape_k = (n_pop, n_bins)
    if initial_state is None:
        return DsodeState(*default(), step=0), None, "params"
    if isinstance(initial_state, Mapping):
        d = initial_state
        if d.get("engine", ENGINE) != ENGINE:
            _bad(f"a final_state of the {d.get('engine')!r} engine cannot start a dsODE run")
        missing = [k for k in ARRAYS + ("step",) if k not in d]
        if missing:
            _bad(f"a dsODE final_state needs {', '.join(ARRAYS + ('step',))}; missing "
                 f"{', '.join(missing)}")
        shapes = dict(n=shape_k, vm=shape_k, refr=(n_pop,), line=(n_pop, line_steps),
                      h=(n_pw,), var=(n_pw,), last=(n_pop,), eta=(n_pop, n_pop, n_bins),
                      eta_r=(n_pop, n_pop, line_steps))
        # counts and moments are >= 0; mean voltages and deviations may be negative
        arrays = {name: state_array(d[name], name, shapes[name],
                                    nonnegative=name in ("n", "refr", "line", "h", "var"))
                  for name in ARRAYS}
        _check_mass(arrays["n"], arrays["refr"], sizes, "the bins plus the refractory pool")
        step = resumed_step(d, t_start, dt)
        rng_text = d.get("rng")
        if rng_text is not None and not isinstance(rng_text, str):
            _bad("rng must be the JSON text of a bit generator state")
        return DsodeState(*(arrays[name] for name in ARRAYS), step=int(step)), rng_text, \
            "final_state"
    if isinstance(initial_state, str):
        _bad("a string initial state is a parameter (NetworkParams.initial_state: 'rest' or "
             "'uniform'); here give neurons per bin (2, n_bins) or a final_state dict")
    n = state_array(initial_state, "neurons per bin", shape_k, nonnegative=True)
    _check_mass(n, np.zeros(n_pop), sizes, "the bins")
    vm = np.repeat(0.5 * (edges[:-1] + edges[1:])[None, :], n_pop, axis=0)
    state = DsodeState(n, vm, np.zeros(n_pop), np.zeros((n_pop, line_steps)), np.zeros(n_pw),
                       np.zeros(n_pw), np.zeros(n_pop), np.zeros((n_pop, n_pop, n_bins)),
                       np.zeros((n_pop, n_pop, line_steps)), step=0)
    return state, None, "array"
