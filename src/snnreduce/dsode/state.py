"""The deterministic dsODE as a map on its state: advance a given state by n steps.

:func:`snnreduce.dsode.run` always starts from the initial state of the parameters. Fixed
points, cycles and continuation (:mod:`snnreduce.continuation`) need the map itself:
"this exact state, n steps later". :class:`StateMap` gives it, with the same kernel and the
same validated options as ``run`` (whatever ``run`` accepts, e.g. ``dv``, ``refractory_rule``
or an input closure, is passed through untouched), and converts the state to and from a flat
vector of independent coordinates.

Coordinates of the flat vector (``StateMap.layout``): per population E, I the neurons
``n_k`` of every bin and their first moments ``m_k = n_k v̄_k`` (not the means: an empty
bin has no mean but a well defined first moment 0), the refractory pool ``R`` (exponential or
paper rule) or the delay-line entries still in flight (fixed rule), the 8 pending-kick moments
(``h`` then ``σ²``, pathways ee, ie, ei, ii, post-pre) and, with ``rate_lag=1``, the previous
step's spike counts. The count of the **reset bin** (the bin holding V = 0) is not a
coordinate: it is ``N_Q - Σ_{other k} n_k - pool``, so every vector is a state with exactly
``N_Q`` neurons per population (mass constraint eliminated, not penalised).
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from ..params import NetworkParams, ParameterError
from . import kernel as K
from .engine import _Setup, _check_record, _collect, _record_arrays, run
from .moments import DEVIATION_CLOSURES
from .snapshot import DsodeState

__all__ = ["DsodeState", "StateMap", "map_options"]

# run() arguments that are not options of the deterministic map
_NOT_MAP_OPTIONS = ("t_end", "noise", "rng", "record", "progress", "pending_noise", "stimulus",
                    "t_start", "initial_state", "record_every")


def map_options(options: dict) -> dict:
    """``options`` completed with :func:`snnreduce.dsode.run`'s defaults (a new dict).

    Raises :class:`ParameterError` naming an option ``run`` does not take. The option list is
    read from ``run``'s signature, so options added there reach the map unchanged.
    """
    sig = inspect.signature(run)
    allowed = {name: p.default for name, p in sig.parameters.items()
               if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in _NOT_MAP_OPTIONS}
    for name in options:
        if name not in allowed:
            raise ParameterError(f"unknown dsODE option {name!r}; allowed: "
                                 f"{', '.join(sorted(allowed))}")
    return {**allowed, **options}


class StateMap:
    """The deterministic dsODE of one parameter set as a map on its state.

    Parameters
    ----------
    params : NetworkParams
        The network (pathways post-pre: ``s_ei`` is the kick an I spike gives an E neuron).
    **options
        dsODE options, exactly those of :func:`snnreduce.dsode.run` (``dv``, ``v_low``,
        ``refractory_rule``, ...), passed through untouched.
    """

    def __init__(self, params: NetworkParams, **options):
        self.options = map_options(options)
        self.setup = _Setup(params, noise=None, pending_noise=False, **self.options)
        self.params = params
        self.edges = self.setup.edges
        self.n_bins = int(self.edges.size - 1)
        self.dt = params.dt
        self.fixed_line = int(self.setup.ic[K.IC_REF_MODE]) == K.REF_FIXED
        self.line_steps = int(self.setup.ic[K.IC_REF_STEPS])
        self.rate_lag = bool(self.setup.ic[K.IC_RATE_LAG])
        self.reset_bin = min(max(int(math.floor((0.0 - self.edges[0])
                                                / (self.edges[1] - self.edges[0]))), 0),
                             self.n_bins - 1)
        self._rng = np.random.default_rng(0)  # never drawn from (deterministic kernel)
        # the "ou" closures carry per-bin deviations: coordinates of the map too
        self.deviations = self.options["closure"] in DEVIATION_CLOSURES
        self.layout = self._layout()
        self.size = sum(stop - start for start, stop in self.layout.values())

    # -- the flat vector -------------------------------------------------------------------
    def _layout(self) -> dict[str, tuple[int, int]]:
        k = self.n_bins
        pool = self.line_steps - 1 if self.fixed_line else 1
        dev = 2 if self.deviations else 0  # sender populations (E, I) of the deviations
        sizes = [("count_E", k - 1), ("moment_E", k), ("pool_E", pool),
                 ("count_I", k - 1), ("moment_I", k), ("pool_I", pool),
                 ("h", 4), ("var", 4), ("last", 2 if self.rate_lag else 0),
                 ("deviation_E", dev * k), ("deviation_pool_E", dev * pool),
                 ("deviation_I", dev * k), ("deviation_pool_I", dev * pool)]
        out, start = {}, 0
        for name, size in sizes:
            out[name] = (start, start + size)
            start += size
        return out

    def coordinate_names(self) -> list[str]:
        """A readable name for each coordinate of the flat vector."""
        names = []
        for key, (a, b) in self.layout.items():
            if key.startswith("count"):
                bins = [j for j in range(self.n_bins) if j != self.reset_bin]
                names += [f"{key}[{j}]" for j in bins]
            else:
                names += [f"{key}[{j}]" for j in range(b - a)]
        return names

    def index(self, name: str, j: int = 0) -> int:
        """Position of coordinate ``name`` (a layout key) number ``j`` in the flat vector."""
        return self.layout[name][0] + j

    def scale(self, x: np.ndarray) -> np.ndarray:
        """Typical size of each coordinate: N_Q for counts and pools, N_Q M for first
        moments, and max(|x|, 1) for the moments (used to scale differences and norms)."""
        s = np.empty(self.size)
        big = float(self.params.threshold)
        for q, pop in enumerate("EI"):
            n_q = float(self.params.n[q])
            # deviations are summed over neurons, in pending kicks: N_Q kicks is their scale
            for key, value in ((f"count_{pop}", n_q), (f"moment_{pop}", n_q * big),
                               (f"pool_{pop}", n_q), (f"deviation_{pop}", n_q),
                               (f"deviation_pool_{pop}", n_q)):
                a, b = self.layout[key]
                s[a:b] = value
        for key in ("h", "var", "last"):
            a, b = self.layout[key]
            s[a:b] = np.maximum(np.abs(x[a:b]), 1.0)
        return s

    def to_vector(self, state: DsodeState) -> np.ndarray:
        """The flat vector of ``state`` (shape ``(self.size,)``)."""
        x = np.empty(self.size)
        keep = np.arange(self.n_bins) != self.reset_bin
        for q, pop in enumerate("EI"):
            a, b = self.layout[f"count_{pop}"]
            x[a:b] = state.n[q, keep]
            a, b = self.layout[f"moment_{pop}"]
            x[a:b] = state.n[q] * state.vm[q]
            a, b = self.layout[f"pool_{pop}"]
            if self.fixed_line:
                # canonical phase: entry j is what leaves j step ends from now (entry 0, the
                # slot of the coming step, is empty at a step start)
                x[a:b] = np.roll(state.line[q], -(state.step % self.line_steps))[1:]
            else:
                x[a:b] = state.refr[q]
        for key, values in (("h", state.h), ("var", state.var)):
            a, b = self.layout[key]
            x[a:b] = values
        a, b = self.layout["last"]
        x[a:b] = state.last[: b - a]
        if self.deviations:
            k = self.n_bins
            for q, pop in enumerate("EI"):
                a, b = self.layout[f"deviation_{pop}"]
                x[a:b] = (state.n[q][None, :k] * state.eta[q, :, :k]).ravel()
                a, b = self.layout[f"deviation_pool_{pop}"]
                if self.fixed_line:
                    x[a:b] = np.roll(state.eta_r[q], -(state.step % self.line_steps),
                                     axis=1)[:, 1:].ravel()
                else:
                    x[a:b] = state.eta_r[q, :, 0]
        return x

    def from_vector(self, x: np.ndarray) -> DsodeState:
        """The state of flat vector ``x`` (step 0).

        Negative counts (a Newton iterate can overshoot) are set to 0 and the reset bin takes
        the balance; a first moment outside its bin is clipped into it, an empty bin gets its
        centre as mean — the same conventions as the kernel's own output.
        """
        x = np.asarray(x, dtype=np.float64)
        k = self.n_bins
        edges = self.edges
        low, width = edges[:-1], edges[1] - edges[0]
        keep = np.arange(k) != self.reset_bin
        n = np.zeros((2, k))
        vm = np.zeros((2, k))
        refr = np.zeros(2)
        line = np.zeros((2, self.line_steps))
        for q, pop in enumerate("EI"):
            a, b = self.layout[f"count_{pop}"]
            n[q, keep] = np.maximum(x[a:b], 0.0)
            a, b = self.layout[f"pool_{pop}"]
            pool = np.maximum(x[a:b], 0.0)
            if self.fixed_line:
                line[q, 1:] = pool
            refr[q] = pool.sum()
            n[q, self.reset_bin] = max(self.params.n[q] - n[q, keep].sum() - refr[q], 0.0)
            a, b = self.layout[f"moment_{pop}"]
            m = x[a:b]
            with np.errstate(divide="ignore", invalid="ignore"):
                mean = np.clip(m / n[q], low, low + width)
            vm[q] = np.where(n[q] > 0.0, mean, low + 0.5 * width)
        h = np.maximum(x[slice(*self.layout["h"])], 0.0)
        var = np.maximum(x[slice(*self.layout["var"])], 0.0)
        last = np.zeros(2)
        a, b = self.layout["last"]
        last[: b - a] = x[a:b]
        eta = np.zeros((2, 2, k))
        eta_r = np.zeros((2, 2, self.line_steps))
        if self.deviations:
            for q, pop in enumerate("EI"):
                a, b = self.layout[f"deviation_{pop}"]
                summed = x[a:b].reshape(2, k)
                with np.errstate(divide="ignore", invalid="ignore"):
                    eta[q] = np.where(n[q] > 0.0, summed / n[q], 0.0)  # empty bins: 0
                a, b = self.layout[f"deviation_pool_{pop}"]
                pool = x[a:b].reshape(2, -1)
                if self.fixed_line:
                    eta_r[q, :, 1:] = pool
                else:
                    eta_r[q, :, 0] = pool[:, 0]
        return DsodeState(n, vm, refr, line, h.copy(), var.copy(), last, eta, eta_r, 0)

    # -- advancing -------------------------------------------------------------------------
    def initial_state(self) -> DsodeState:
        """The state ``run`` starts from (``params.initial_state``)."""
        return DsodeState(*self.setup.initial_state(), step=0)

    def advance(self, state: DsodeState, n_steps: int, record=()) -> tuple[np.ndarray, dict]:
        """Advance ``state`` in place by ``n_steps`` steps.

        Parameters
        ----------
        state : DsodeState
            Modified in place (``state.step`` advances too).
        n_steps : int
            Steps of ``params.dt`` ms.
        record : iterable of str
            Records as in :func:`snnreduce.dsode.run` (``"pending"``: total pending kicks
            per pathway ``h N_post`` after each step, float64).

        Returns
        -------
        counts : ndarray, shape (n_done, 2)
            Expected spikes of E and I in each step.
        records : dict
            The records asked for (``bin_count``/``bin_mean`` are float32, as in ``run``).

        Raises
        ------
        FloatingPointError
            If the state became non-finite (the step count then is shorter).
        """
        record = _check_record(record)
        n_steps = int(n_steps)
        counts = np.zeros((n_steps, self.setup.n_pop))
        recs = _record_arrays(record, n_steps, self.n_bins, n_pop=self.setup.n_pop,
                              n_pw=self.setup.n_pw)
        s = self.setup
        done = K._advance(*state.arrays(), s.pop, s.pw, s.senders, s.fc, s.ic, state.step,
                          n_steps, self._rng, K.NO_STIMULUS, counts, *recs, 0, 1)
        state.step += done
        if done < n_steps:
            raise FloatingPointError(f"the dsODE state became non-finite after {done} steps")
        return counts, _collect(record, recs, self.edges, self.n_bins, done)

    def step_vector(self, x: np.ndarray, n_steps: int = 1) -> np.ndarray:
        """The flat vector ``n_steps`` steps after flat vector ``x``."""
        state = self.from_vector(x)
        self.advance(state, n_steps)
        return self.to_vector(state)
