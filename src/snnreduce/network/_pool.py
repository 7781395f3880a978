"""The stepped engine's worker pool: threads that live for a chunk of steps and meet every
step through atomics, the choice between them and one thread, and the loops that run the
sweeps (:func:`run_steps`) on either.

Why a pool of our own and not numba's ``prange`` per step: the engine's threads must meet
twice per time step (the spikes of a step feed the next one), and a ``prange`` launch and
join costs ~15 µs where these atomics cost ~1 µs (docs/performance.md, docs/network.md) —
15 times cheaper per step, which is what makes two threads pay off from a few hundred neurons.
The workers start once per chunk (one ``prange`` over workers, :func:`_run_workers`); inside, the words of a shared int64 array (layout below, each group
on its own cache line) say which sweep is published, which blocks are taken and how many are
done. Blocks are taken, not assigned (:func:`take`), so a worker that starts late or never only
leaves more to the others, and the result depends on the seed only.

:class:`SweepChooser` picks serial or parallel sweeps per chunk from their measured cost, and
:func:`aligned_zeros` keeps per-neuron arrays on whole cache lines so that blocks run by
different threads never share one. The engine's physics (what a sweep does to a block) is
:mod:`._sweep`; the tables it reads are built by :mod:`.stepped`.
"""

from __future__ import annotations

import numba
import numpy as np

from . import _atomic
from ._sweep import end_sweep, sweep_block

__all__ = ["S_DONE", "S_GEN", "S_STEP", "S_HAVE_C", "S_DO_A", "S_N_SPK", "S_PREV_LO",
           "S_PREV_HI", "S_STOP", "S_TAKEN", "SPIN_PAUSES", "STEAL_PAUSES", "take", "wait",
           "worker_count", "new_sync", "SweepChooser", "aligned_zeros", "run_steps"]

# Words of the array shared by the worker threads (each group on its own cache line).
S_DONE = 0      # blocks finished since the call began
S_GEN = 8       # sweeps completed and published; the next sweep's parameters follow it
S_STEP, S_HAVE_C, S_DO_A, S_N_SPK, S_PREV_LO, S_PREV_HI, S_STOP = range(9, 16)
S_TAKEN = 16    # block b's word, 16 + 8 b: the number of sweeps that have taken it

#: pause instructions a waiting worker spins before it yields its core (~10-40 us)
SPIN_PAUSES = 64
#: pause instructions a worker with no blocks of its own left waits before taking others'
STEAL_PAUSES = 32


@numba.njit(cache=True, _nrt=False, inline="always")
def take(sync, b, sweep):
    """Take block ``b`` for sweep ``sweep`` unless another thread has (True: ours)."""
    word = S_TAKEN + 8 * b
    return (_atomic.load_acquire(sync, word) == sweep
            and _atomic.compare_exchange(sync, word, sweep, sweep + 1) == sweep)


@numba.njit(cache=True, _nrt=False, inline="always")
def wait(spins):
    """One round of a wait: spin at first; a long wait means the thread waited for has lost
    its core (a busy machine), so then give ours up instead of spinning it away."""
    if spins < SPIN_PAUSES:
        _atomic.spin_pause()
    else:
        _atomic.yield_thread()


def worker_count():
    """Worker threads of a parallel chunk: numba's thread count (a function, so tests can ask
    for more workers than threads)."""
    return numba.get_num_threads()


class SweepChooser:
    """Picks serial or parallel sweeps for each chunk from the wall time per step measured so
    far: the faster one, with the other re-timed every ``PROBE_EVERY`` chunks.

    Both give identical results, so this only moves speed: parallel workers wait for each
    other every step and can be many times slower than one thread when another process holds
    a core. A chunk's cost per step also follows the network's activity (a burst of spikes
    costs more), so each mode's cost is a running average over its chunks, recent ones
    weighted most (``DECAY``), not the last chunk alone. The first chunk of each mode is not
    counted (it may include loading the compiled kernel).

    Parallel sweeps are kept unless they cost more than ``PARALLEL_BIAS`` times serial ones:
    the second core runs slowly for the first ~20 ms after it was idle (measured on a 2-core
    virtual machine), which makes parallel probes right after serial chunks look worse than
    parallel sweeps are once running, while the case this chooser is for (another process
    holding a core) makes them several times slower.
    """

    PROBE_EVERY = 16
    DECAY = 0.7
    PARALLEL_BIAS = 1.25

    def __init__(self, allowed: bool):
        self.allowed = allowed
        self.seconds = {True: 0.0, False: 0.0}
        self.steps = {True: 0.0, False: 0.0}
        self.warm = {True: False, False: False}
        self.chunks = 0

    def cost(self, mode: bool) -> float | None:
        """Average wall time per step of a mode, None before it is timed."""
        return self.seconds[mode] / self.steps[mode] if self.steps[mode] > 0 else None

    def pick(self) -> tuple[bool, bool]:
        """(parallel, probe) for the next chunk."""
        self.chunks += 1
        if not self.allowed:
            return False, False
        for mode in (True, False):
            if self.cost(mode) is None:
                return mode, True
        best = self.cost(True) <= self.PARALLEL_BIAS * self.cost(False)
        if self.chunks % self.PROBE_EVERY == 0:
            return not best, True
        return best, False

    def record(self, mode: bool, seconds: float, steps: int) -> None:
        if self.warm[mode] and steps > 0:
            self.seconds[mode] = self.DECAY * self.seconds[mode] + seconds
            self.steps[mode] = self.DECAY * self.steps[mode] + steps
        self.warm[mode] = True


def aligned_zeros(shape, dtype):
    """``np.zeros`` starting on a 64-byte boundary (a cache line); a 2-d array's rows are
    padded to whole lines too (callers use the first ``shape[-1]`` columns)."""
    shape = tuple(np.atleast_1d(shape))
    itemsize = np.dtype(dtype).itemsize
    per_line = 64 // itemsize
    cols = -(-shape[-1] // per_line) * per_line
    n = int(np.prod(shape[:-1], dtype=np.int64)) * cols
    raw = np.zeros(n + per_line, dtype)
    start = (-raw.ctypes.data % 64) // itemsize
    out = raw[start:start + n].reshape(shape[:-1] + (cols,))
    return out if len(shape) > 1 else out[:shape[0]]


def new_sync(n_blocks: int, first: int, n_spk: int) -> np.ndarray:
    """The shared words of a parallel chunk that starts at step ``first`` with ``n_spk``
    spikes stored."""
    sync = aligned_zeros(S_TAKEN + 8 * n_blocks, np.int64)
    sync[S_STEP] = first
    sync[S_DO_A] = 1
    sync[S_N_SPK] = n_spk
    return sync


@numba.njit(cache=True, _nrt=False)
def _run_serial(first, last, n_spk, pop_of, blocks, tabs, state, net, draw, out):
    """Advance steps ``first .. last-1`` on one thread; returns (next step, spikes stored).

    Stops early, before a step, when the spike buffer could overflow during it (the caller
    checked that the first step fits). Every call ends with the state of a whole step (the
    last sweep only finishes the last step).
    """
    n_tot = state[0].size
    step, have_c, do_a, prev_lo, prev_hi = first, False, True, 0, 0
    while True:
        for b in range(blocks.shape[0]):
            sweep_block(b, have_c, do_a, step - 1, prev_lo, prev_hi, pop_of, blocks, tabs, state,
                         net, draw, out)
        step, have_c, do_a, n_spk, prev_lo, prev_hi, stop = end_sweep(
            step, have_c, do_a, n_spk, last, n_tot, blocks, tabs, draw, out)
        if stop:
            return step, n_spk


@numba.njit(cache=True, _nrt=False)
def _worker(w, n_workers, last, pop_of, blocks, tabs, state, net, draw, out, sync):
    """Thread ``w`` of :func:`_run_workers`. Per sweep it runs the blocks of its own share
    (so that a block's neurons stay in one core's cache) and then waits for the sweep's end;
    if that takes longer than STEAL_PAUSES it takes any block nobody has taken yet. The thread
    whose blocks complete the sweep does :func:`end_sweep` and publishes the next sweep.

    Blocks are taken, not assigned: a thread that starts late, or never, only means the others
    take more, so the call cannot deadlock, and each block draws from its own streams, so
    the result does not depend on who took what.
    """
    n_tot = state[0].size
    n_blocks = blocks.shape[0]
    own_lo = (w * n_blocks) // n_workers
    own_hi = ((w + 1) * n_blocks) // n_workers
    sweep = 0
    while True:
        spins = 0
        while _atomic.load_acquire(sync, S_GEN) < sweep:
            spins += 1
            wait(spins)
        if sync[S_STOP] == 1:
            return
        step = sync[S_STEP]
        have_c = sync[S_HAVE_C] == 1
        do_a = sync[S_DO_A] == 1
        prev_lo = sync[S_PREV_LO]
        prev_hi = sync[S_PREV_HI]
        limit = (sweep + 1) * n_blocks
        done = 0
        for b in range(own_lo, own_hi):
            if take(sync, b, sweep):
                sweep_block(b, have_c, do_a, step - 1, prev_lo, prev_hi, pop_of, blocks, tabs,
                             state, net, draw, out)
                done += 1
        # one count per thread and sweep: the thread whose count completes the sweep ends it
        finisher = done > 0 and _atomic.fetch_add(sync, S_DONE, done) + done == limit
        spins = 0
        while not finisher and _atomic.load_acquire(sync, S_GEN) <= sweep:
            spins += 1
            if spins % STEAL_PAUSES == 0:
                for b in range(n_blocks):
                    if take(sync, b, sweep):
                        sweep_block(b, have_c, do_a, step - 1, prev_lo, prev_hi, pop_of, blocks,
                                     tabs, state, net, draw, out)
                        if _atomic.fetch_add(sync, S_DONE, 1) + 1 == limit:
                            finisher = True
                            break
            wait(spins)
        if finisher:
            nxt, nhave, ndo, nspk, nlo, nhi, stop = end_sweep(
                step, have_c, do_a, sync[S_N_SPK], last, n_tot, blocks, tabs, draw, out)
            sync[S_STEP] = nxt
            sync[S_HAVE_C] = nhave
            sync[S_DO_A] = ndo
            sync[S_N_SPK] = nspk
            sync[S_PREV_LO] = nlo
            sync[S_PREV_HI] = nhi
            sync[S_STOP] = stop
            _atomic.store_release(sync, S_GEN, sweep + 1)
        sweep += 1


@numba.njit(cache=True, parallel=True, _nrt=False)
def _run_workers(n_workers, last, pop_of, blocks, tabs, state, net, draw, out, sync):
    """:func:`_run_serial` on ``n_workers`` threads that meet every sweep through ``sync``
    (set up by :func:`run_steps`), not through numba's thread pool."""
    for w in numba.prange(n_workers):
        _worker(w, n_workers, last, pop_of, blocks, tabs, state, net, draw, out, sync)


def run_steps(parallel, first, last, n_spk, pop_of, blocks, tabs, state, net, draw, out):
    """Advance steps ``first .. last-1`` (fewer if the spike buffer fills: see
    :func:`_run_serial`); returns (next step, spikes stored)."""
    n_tot = state[0].size
    if not (first < last and n_spk + n_tot <= out[3].size):
        return first, n_spk
    n_workers = worker_count() if parallel else 1
    if n_workers < 2:
        return _run_serial(first, last, n_spk, pop_of, blocks, tabs, state, net, draw, out)
    sync = new_sync(blocks.shape[0], first, n_spk)
    _run_workers(n_workers, last, pop_of, blocks, tabs, state, net, draw, out, sync)
    return int(sync[S_STEP]), int(sync[S_N_SPK])
