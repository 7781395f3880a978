"""Maps whose fixed points are continued: plain functions, the dsODE step, its return map.

A *problem* is a map ``u -> Φ(u, p)`` on scaled coordinates (every coordinate O(1)) with a
scalar parameter ``p``. Its fixed points are what :mod:`.branch` continues:

- :class:`FunctionMap` — any Python map (tests: the logistic map, a delayed logistic map).
- :class:`StepProblem` — the deterministic dsODE's step map ``F`` (``stride`` steps of dt):
  its fixed points are the asynchronous (stationary) states.
- :class:`ReturnProblem` — the return map of a Poincaré section of the dsODE: the pending E->E
  kicks per E neuron ``h^{EE}`` crossing a level upward, the state linearly interpolated
  between the two steps around the crossing (``iterates = 2`` composes it twice: the
  period-doubled cycle). Its fixed point is the period-1 cycle. A cycle of the underlying
  flow is not an exact periodic orbit of the fixed-dt map (its period is no multiple of dt;
  the map has an invariant closed curve), which is why the section is needed.

Pathway names are post, pre (``"ee"``: E -> E; ``h`` entries in the order ee, ie, ei, ii).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..dsode.state import StateMap, map_options
from ..params import NetworkParams, ParameterError
from .newton import DEFAULT_STEP, fd_jacobian

__all__ = ["FunctionMap", "StepProblem", "ReturnProblem", "NoReturn", "CONTINUABLE"]

#: NetworkParams fields a branch can be continued in (the state's size and meaning stay put).
CONTINUABLE = ("lambda_e", "lambda_i", "tau_ee", "tau_ie", "tau_ei", "tau_ii", "tau_r", "tau_m",
               "p_ee", "p_ie", "p_ei", "p_ii", "s_ee", "s_ie", "s_ei", "s_ii",
               "inhibitory_reversal")


class NoReturn(RuntimeError):
    """The orbit did not come back to the section (e.g. it settled to a fixed point)."""


class FunctionMap:
    """A map given by a Python function, unscaled.

    Parameters
    ----------
    func : callable
        ``func(x, p) -> ndarray`` of the same shape as ``x`` (shape (n,)).
    iterates : int
        Continue fixed points of the ``iterates``-fold composition.
    """

    kind = "function"
    subspace = True  # large maps: linearised by their dominant subspace (see .branch)

    def __init__(self, func, iterates: int = 1):
        self.func = func
        self.iterates = int(iterates)

    def image(self, u, p, iterates=None):
        x = np.asarray(u, dtype=np.float64)
        for _ in range(self.iterates if iterates is None else iterates):
            x = np.asarray(self.func(x, p), dtype=np.float64)
        return x

    def jacobian(self, u, p, f0=None, step=DEFAULT_STEP):
        """Forward-difference Jacobian of the map (not of Φ - id)."""
        return fd_jacobian(lambda v: self.image(v, p), u, f0, step=step)

    def doubled(self):
        return FunctionMap(self.func, 2 * self.iterates)

    def reanchor(self, u, p):
        return None

    def describe(self, u, p) -> dict:
        return {}

    def check_parameter(self, p):
        return float(p)


class _DsodeProblem:
    """Common part of the dsODE problems: parameter handling, scaling, difference directions."""

    def __init__(self, params: NetworkParams, parameter: str, options: dict | None, x_ref):
        if parameter not in CONTINUABLE:
            raise ParameterError(f"parameter must be one of {', '.join(CONTINUABLE)} (a "
                                 f"continuous field of NetworkParams), got {parameter!r}")
        if parameter == "tau_r" and params.refractory == "fixed":
            raise ParameterError("tau_r cannot be continued with refractory='fixed' (it sets "
                                 "the length of the delay line, a whole number of steps)")
        if parameter == "tau_m" and params.tau_m == 0:
            raise ParameterError("tau_m cannot be continued from 0 (no leak); start at tau_m > 0")
        self.params = params
        self.parameter = parameter
        self.options = map_options(options or {})
        self._maps: OrderedDict = OrderedDict()
        self.base_map = StateMap(params, **self.options)
        self.full_scale = self.base_map.scale(np.asarray(x_ref, dtype=np.float64))

    def check_parameter(self, p) -> float:
        """``p`` if ``params.replace(parameter=p)`` is valid, else ParameterError."""
        self.statemap(p)
        return float(p)

    def statemap(self, p) -> StateMap:
        key = float(p)
        m = self._maps.get(key)
        if m is None:
            if key == getattr(self.params, self.parameter):
                m = self.base_map
            else:
                params = self.params.replace(**{self.parameter: key})
                if self.parameter == "tau_m" and key <= 0:
                    raise ParameterError("tau_m must stay > 0 along a branch")
                m = StateMap(params, **self.options)
            self._maps[key] = m
            if len(self._maps) > 8:
                self._maps.popitem(last=False)
        return m

    def _count_moment_pairs(self):
        """Full-vector indices of (count, first moment) of the same bin, for every bin that
        has a count coordinate (the reset bin has none)."""
        m = self.base_map
        pairs = []
        for pop in "EI":
            c0 = m.layout[f"count_{pop}"][0]
            m0 = m.layout[f"moment_{pop}"][0]
            bins = [k for k in range(m.n_bins) if k != m.reset_bin]
            pairs += [(c0 + j, m0 + k) for j, k in enumerate(bins)]
        return pairs

    def _directions(self, x_full, keep):
        """Difference directions (columns, scaled reduced coordinates): a count moves together
        with its bin's first moment so that the bin's mean stays put (a bare count change
        would move the mean of a nearly empty bin across the bin); returns the directions and
        the back-transformation ``J = J_dir @ inv`` as the matrix ``inv``."""
        size = int(np.sum(keep))
        pos = -np.ones(keep.size, dtype=np.int64)
        pos[keep] = np.arange(size)
        m = self.base_map
        centre = 0.5 * (m.edges[:-1] + m.edges[1:])
        width = m.edges[1] - m.edges[0]
        directions = np.eye(size)
        inverse = np.eye(size)
        for ic, im in self._count_moment_pairs():
            if pos[ic] < 0 or pos[im] < 0:
                continue
            n = x_full[ic]
            k = (im - m.layout["moment_E"][0]) if im < m.layout["moment_I"][0] \
                else (im - m.layout["moment_I"][0])
            mean = x_full[im] / n if n > 0 else centre[k]
            mean = min(max(mean, centre[k] - 0.5 * width), centre[k] + 0.5 * width)
            c = self.full_scale[ic] * mean / self.full_scale[im]
            directions[pos[im], pos[ic]] = c
            inverse[pos[im], pos[ic]] = -c
        return directions, inverse


class StepProblem(_DsodeProblem):
    """The dsODE step map ``F`` (``stride`` steps) on the flat state (see
    :class:`snnreduce.dsode.state.StateMap`); fixed points = stationary states.

    Its multipliers are those of one step (``stride = 1``): eigenvalues ``≈ 1 + λ dt`` of the
    time-continuous linearisation, so a complex pair leaving the unit circle is a Hopf point of
    the flow (a Neimark-Sacker point of the map).
    """

    kind = "fixed point"
    flow_step = True  # a complex pair leaving the circle is a Hopf point of the flow
    # all multipliers of one step are ≈ 1 + λ dt, none dominates: dense Jacobians (cheap,
    # ~10 ms) rather than subspace iteration
    subspace = False

    def __init__(self, params, parameter="p_ei", options=None, x_ref=None, stride: int = 1):
        if x_ref is None:
            m = StateMap(params, **(options or {}))
            x_ref = m.to_vector(m.initial_state())
        super().__init__(params, parameter, options, x_ref)
        self.stride = int(stride)
        self.iterates = 1
        self.scale = self.full_scale

    def to_scaled(self, x):
        return np.asarray(x, dtype=np.float64) / self.scale

    def to_full(self, u):
        return np.asarray(u) * self.scale

    def image(self, u, p, iterates=None):
        steps = self.stride * (self.iterates if iterates is None else iterates)
        return self.statemap(p).step_vector(self.to_full(u), steps) / self.scale

    def jacobian(self, u, p, f0=None, step=DEFAULT_STEP):
        x = self.to_full(u)
        dirs, inv = self._directions(x, np.ones(x.size, dtype=bool))
        return fd_jacobian(lambda v: self.image(v, p), u, f0, step=step, directions=dirs) @ inv

    def doubled(self):
        out = StepProblem.__new__(StepProblem)
        out.__dict__.update(self.__dict__)
        out._maps = OrderedDict()
        out.iterates = 2 * self.iterates
        return out

    def reanchor(self, u, p):
        return None

    def describe(self, u, p) -> dict:
        m = self.statemap(p)
        state = m.from_vector(self.to_full(u))
        counts, _ = m.advance(state, 1)
        n_e, n_i = m.params.n
        return {"rate_e_hz": float(counts[0, 0] / (n_e * m.dt) * 1000.0),
                "rate_i_hz": float(counts[0, 1] / (n_i * m.dt) * 1000.0),
                "period_ms": None, "peak_difference": 0.0}


class ReturnProblem(_DsodeProblem):
    """Return map of the section ``h^{EE} = level`` (crossed upward) of the dsODE.

    Unknowns: the flat state without its ``h^{EE}`` coordinate (fixed at ``level`` on the
    section), scaled. The crossing is located between steps j-1 and j (``g_{j-1} < level <=
    g_j``) and the state there is the linear interpolation ``x_{j-1} + θ (x_j - x_{j-1})``,
    ``θ = (level - g_{j-1}) / (g_j - g_{j-1})``: the return time is ``j - 1 + θ`` steps. The
    map is continuous in the state also where j jumps (θ -> 1 meets θ = 0), with a kink there.

    Parameters
    ----------
    params : NetworkParams
    parameter : str
        The continued field (see :data:`CONTINUABLE`).
    options : dict
        dsODE options (as for :func:`snnreduce.reduce`), passed through untouched.
    x_ref : ndarray
        A state of the flat vector on (or near) the cycle: sets the coordinate scales.
    level : float
        Section level of ``h^{EE}`` (pending E->E kicks per E neuron).
    period_steps : float
        A guess of the return time, steps.
    iterates : int
        1: the return map P; 2: P∘P (period-doubled cycles).
    """

    kind = "cycle"
    # a few multipliers of size O(0.1 - 10), the rest near 0 (strong contraction over a
    # period): Newton-Picard with the dominant subspace (see .subspace)
    subspace = True

    def __init__(self, params, parameter, options, x_ref, level, period_steps, iterates=1):
        super().__init__(params, parameter, options, x_ref)
        self.section = self.base_map.index("h", 0)
        self.keep = np.ones(self.base_map.size, dtype=bool)
        self.keep[self.section] = False
        self.scale = self.full_scale[self.keep]
        self.level = float(level)
        self.period_steps = float(period_steps)
        self.iterates = int(iterates)
        self.last_return_steps = None

    def to_full(self, u):
        x = np.empty(self.keep.size)
        x[self.keep] = np.asarray(u) * self.scale
        x[self.section] = self.level
        return x

    def to_scaled(self, x):
        return np.asarray(x, dtype=np.float64)[self.keep] / self.scale

    def _return(self, m: StateMap, x):
        """One return from full vector ``x`` on the section: (full vector, steps).

        The section variable is recorded every step (``pending``); the state is kept at the
        start of the stretch being searched, so that the two states around the crossing cost
        a short re-run only.
        """
        n_e = m.params.n[0]
        guess = max(self.period_steps, 10.0)
        min_steps = max(3, int(0.3 * guess))
        limit = 20 * guess + 5000
        state = m.from_vector(x)
        done = 0
        prev = self.level
        chunk = max(min_steps, int(guess) - 8)  # first stretch: most of a return
        while done < limit:
            anchor = state.copy()
            _, rec = m.advance(state, chunk, record=("pending",))
            g = rec["pending"][:, 0] / n_e
            before = np.concatenate(([prev], g[:-1]))
            idx = np.nonzero((before < self.level) & (g >= self.level))[0]
            idx = idx[idx + done + 1 > min_steps]
            if idx.size:
                i = int(idx[0])  # crossing between steps done + i and done + i + 1
                if i > 0:
                    m.advance(anchor, i)
                xa = m.to_vector(anchor)
                m.advance(anchor, 1)
                xb = m.to_vector(anchor)
                ga, gb = xa[self.section], xb[self.section]
                theta = (self.level - ga) / (gb - ga)
                out = xa + theta * (xb - xa)
                out[self.section] = self.level
                return out, done + i + theta
            done += chunk
            prev = g[-1]
            chunk = 16 if done < 2 * guess else int(guess)
        raise NoReturn(f"no return to the section h_ee = {self.level:.4g} within {done} steps")

    def image(self, u, p, iterates=None):
        m = self.statemap(p)
        x = self.to_full(u)
        total = 0.0
        try:
            for _ in range(self.iterates if iterates is None else iterates):
                x, steps = self._return(m, x)
                total += steps
        except (NoReturn, FloatingPointError):
            return np.full(u.shape, np.nan)
        self.last_return_steps = total
        return self.to_scaled(x)

    def jacobian(self, u, p, f0=None, step=DEFAULT_STEP):
        dirs, inv = self._directions(self.to_full(u), self.keep)
        return fd_jacobian(lambda v: self.image(v, p), u, f0, step=step, directions=dirs) @ inv

    def copy(self, iterates=None) -> "ReturnProblem":
        """The same problem with its own section state (and ``iterates`` if given)."""
        out = ReturnProblem.__new__(ReturnProblem)
        out.__dict__.update(self.__dict__)
        out._maps = OrderedDict()
        if iterates is not None:
            out.iterates = int(iterates)
        return out

    def doubled(self):
        return self.copy(2 * self.iterates)

    def trajectory(self, u, p, n_steps=None, record=()):
        """Counts (and records) along the orbit from ``u``: ``n_steps`` (default: one full
        return of this problem, rounded up) steps."""
        m = self.statemap(p)
        if n_steps is None:
            self.image(u, p)
            n_steps = int(np.ceil(self.last_return_steps))
        state = m.from_vector(self.to_full(u))
        return m.advance(state, n_steps, record=record)

    def reanchor(self, u, p):
        """Move the section to the geometric mean of the orbit's min and max ``h^{EE}`` when
        the level has drifted out of the middle of the orbit's range (rates change by an
        order of magnitude over a branch); returns the new ``u`` or None."""
        m = self.statemap(p)
        self.image(u, p)
        total = self.last_return_steps
        if total is None or not np.isfinite(total):
            return None
        self.period_steps = total / self.iterates
        _, rec = self.trajectory(u, p, record=("pending",))
        g = rec["pending"][:, 0] / m.params.n[0]
        lo, hi = float(g.min()), float(g.max())
        if lo <= 0 or hi <= lo:
            return None
        target = float(np.sqrt(lo * hi))
        if (lo * (hi / lo) ** 0.25) <= self.level <= (lo * (hi / lo) ** 0.75):
            return None
        # the new section point: the next upward crossing of the new level on the orbit
        x = self.to_full(u)
        old, self.level = self.level, target
        try:
            y, _ = self._return(m, x)
        except (NoReturn, FloatingPointError):
            self.level = old
            return None
        return self.to_scaled(y)

    def describe(self, u, p) -> dict:
        """Period, rates, E peak heights and their difference along two returns.

        ``peak_difference`` is the mean |difference| of successive peak heights of the
        1 ms-smoothed E count (spikes/ms, as :func:`snnreduce.analysis.peak_differences`);
        ``peak_margin`` is (smallest peak - mean of the signal) / mean: where it turns
        negative the default peak detector (height = mean) stops seeing the smaller burst.
        """
        from ..analysis import centred_box_mean, window_half_steps

        m = self.statemap(p)
        self.image(u, p)
        total = self.last_return_steps
        n_steps = int(np.ceil(2 * total)) + 1
        counts, _ = self.trajectory(u, p, n_steps=n_steps)
        n_e, n_i = m.params.n
        one = int(np.floor(total))
        signal = centred_box_mean(counts[:, 0], window_half_steps(1.0, m.dt, "smooth")) / m.dt
        # the bursts of the second return (the first is shifted by the smoothing edge)
        seg = signal[one: 2 * one]
        heights = self._burst_peaks(seg, self.iterates)
        mean = float(signal[:2 * one].mean())
        diff = np.abs(np.diff(np.append(heights, heights[0]))) if heights.size > 1 \
            else np.zeros(1)
        return {"rate_e_hz": float(counts[:one, 0].mean() / (n_e * m.dt) * 1000.0),
                "rate_i_hz": float(counts[:one, 1].mean() / (n_i * m.dt) * 1000.0),
                "period_ms": float(total * m.dt),
                "peak_heights": [float(h) for h in heights],
                "peak_difference": float(diff.mean()),
                "peak_margin": float((heights.min() - mean) / mean) if heights.size else None}

    @staticmethod
    def _burst_peaks(seg, n_bursts):
        """Heights of the ``n_bursts`` highest separated maxima of one period of a signal."""
        from scipy.signal import find_peaks

        wrapped = np.concatenate((seg, seg[:3]))
        idx, props = find_peaks(wrapped, height=-np.inf,
                                distance=max(1, seg.size // (2 * n_bursts)))
        keep = idx < seg.size
        idx, heights = idx[keep], props["peak_heights"][keep]
        order = np.sort(np.argsort(-heights)[:n_bursts])
        return heights[order]
