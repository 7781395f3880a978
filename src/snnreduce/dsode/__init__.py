"""The reduced system ("dsODE", SPEC §3-4): voltage bins + pending-kick moments.

- :mod:`.moments` — the Markov approximation: moment ODEs of the pending kicks and the
  Gaussian input they imply (shared with the surrogate spiking engine).
- :mod:`.transport` — closed-form transport of one bin over one step.
- :mod:`.kernel` — the time step, deterministic and finite-size, for one or many sets.
- :func:`run` / :func:`run_batch` — entry points (users normally call
  :func:`snnreduce.reduce`).

Pathway names are **post, pre** (``"ei"`` is I -> E).
"""

from .engine import DSODE_RECORDS, MOMENT_INTEGRATORS, REFRACTORY_RULES, run, run_batch

__all__ = ["run", "run_batch", "DSODE_RECORDS", "REFRACTORY_RULES", "MOMENT_INTEGRATORS"]
