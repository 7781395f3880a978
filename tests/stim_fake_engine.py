"""A deterministic first-order rate model that honours ``stimulus=`` (engine contract), for
testing the stimulus front end (api, io, sweep, compare, response) with closed forms, apart
from the real engines.

Each population's rate r (Hz) follows ``TAU dr/dt = -r + GAIN λ̄_Q(t)`` from ``r(0) = GAIN λ_Q``
with the per-step mean input λ̄ (:meth:`Stimulus.step_rates`), solved exactly per step; the
counts of step i are the exact step mean of r times ``N_Q dt / 1000``. Its transfer function
is ``GAIN / (1 + i ω TAU)``, its step response ``1 - exp(-t / TAU)`` (latency TAU ln 2, no
overshoot, settling TAU ln 10).
"""

import numpy as np

from snnreduce import models as registry
from snnreduce.stimulus import Stimulus

TAU = 5.0      # ms
GAIN = 10.0    # Hz per kicks/ms
NAME = "lowpass"
#: every call's keyword options, for the tests that check what the engine received
CALLS = []


def run(params, *, t_end, rng, record, progress, **options):
    CALLS.append(dict(options))
    stimulus = options.pop("stimulus", None)
    dt = params.dt
    n_steps = int(np.ceil(t_end / dt - 1e-9))
    lam = (stimulus or Stimulus()).step_rates(params, t_end)
    a = dt / TAU
    decay, mean_factor = np.exp(-a), (1 - np.exp(-a)) / a
    r = GAIN * np.array([params.lambda_e, params.lambda_i])
    counts = np.empty((n_steps, 2))
    for i in range(n_steps):
        target = GAIN * lam[i]
        counts[i] = target + (r - target) * mean_factor
        r = target + (r - target) * decay
    counts *= np.array(params.n) * dt / 1000.0
    return {"population_counts": counts, "spike_times": None, "spike_neurons": None,
            "records": {}, "options": {"tau": TAU}, "status": "ok"}


def register():
    """Add the model to the registry (idempotent); tests call it in their process (n_jobs=1)."""
    return registry.register(
        registry.Model(NAME, NAME, f"{__name__}:run", "first-order low-pass", "tab:green",
                       "reduction", deterministic=True, seeded=False, records=(),
                       attractor=False, record_owner="the low-pass test model"),
        replace=True)
