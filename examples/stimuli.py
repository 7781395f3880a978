"""A step and a sine in the external drive of the reference network: the spiking network (a few
seeds) against the dsODE. Under a minute on one core.

    python examples/stimuli.py            # writes stimulus_step.png and stimulus_sine.png

The grammar of the stimuli and the definitions of the numbers printed are in docs/stimuli.md.
"""

import numpy as np

import snnreduce
from snnreduce.analysis import population_rate
from snnreduce.analysis.response import across_seeds, linear_response, step_response
from snnreduce.plot import save_figure, step_response_figure
from snnreduce.step_report import SMOOTH_MS   # 10 ms, as compare smooths a step response

params = snnreduce.NetworkParams.preset("reference")   # λ_E = λ_I = 7 kicks/ms
seeds = (1, 2, 3)
T = 1000.0

# ---- a step: λ_E rises by 2 kicks/ms at 500 ms -----------------------------------------------
step = "E:lambda+step(at=500,amp=2)"
network = [snnreduce.simulate(params, "stepped", t_end=T, seed=s, stimulus=step) for s in seeds]
dsode = snnreduce.reduce(params, t_end=T, record=(), stimulus=step)

traces = {}
for pop in ("E", "I"):
    rows = [population_rate(r, pop, smooth=SMOOTH_MS) for r in network]
    time = rows[0][0]
    traces[pop] = {"snn": np.stack([rate for _, rate in rows]),
                   "dsode": population_rate(dsode, pop, smooth=SMOOTH_MS)[1]}
    net = across_seeds([step_response(time, rate, 500.0) for _, rate in rows])
    red = step_response(time, traces[pop]["dsode"], 500.0)
    print(f"step, {pop} rate: network {net['rate_before'].mean:5.1f} -> "
          f"{net['rate_after'].mean:5.1f} Hz (latency {net['latency'].mean:4.1f} ms), "
          f"dsODE {red.rate_before:5.1f} -> {red.rate_after:5.1f} Hz "
          f"(latency {red.latency:4.1f} ms)")
save_figure(step_response_figure(time, traces, 500.0, window=(-200.0, 400.0),
                                 title=f"{step}: network ({len(seeds)} seeds) vs dsODE"),
            "stimulus_step.png")

# ---- a sine: both drives modulated by 1 kick/ms at 10 Hz -------------------------------------
sine = "E:lambda+sine(amp=1,hz=10); I:lambda+sine(amp=1,hz=10)"
network = [snnreduce.simulate(params, "stepped", t_end=T, seed=s, stimulus=sine) for s in seeds]
dsode = snnreduce.reduce(params, t_end=T, record=(), stimulus=sine)
for pop in ("E", "I"):
    fits = [linear_response(*population_rate(r, pop, smooth=0), hz=10, amp=1) for r in network]
    red = linear_response(*population_rate(dsode, pop, smooth=0), hz=10, amp=1)
    gains = [f.gain for f in fits]
    print(f"sine 10 Hz, {pop} rate: gain network {np.mean(gains):5.2f} ± {np.std(gains, ddof=1):.2f}, "
          f"dsODE {red.gain:5.2f} Hz per kicks/ms; phase network "
          f"{np.mean([f.phase for f in fits]):+5.0f}°, dsODE {red.phase:+5.0f}°")

import matplotlib.pyplot as plt  # noqa: E402  (snnreduce.plot chose a backend above)

# the rates are drawn smoothed over 20 ms, which keeps 94 % of the 10 Hz modulation and
# removes most of the multiple-firing events (~60 Hz) that hide it in the raw rate
SHOW_SMOOTH = 20.0
fig, axes = plt.subplots(3, 1, figsize=(7, 6.5), sharex=True,
                         gridspec_kw={"height_ratios": [1, 2, 2]})
t = dsode.time
axes[0].plot(t, snnreduce.stimulus.parse_stimulus(sine)["E"].resolved(params.lambda_e).rate_at(t),
             color="0.2", lw=1.0)
axes[0].set_ylabel("drive λ\n(kicks/ms)")
for ax, pop in zip(axes[1:], ("E", "I")):
    rows = np.stack([population_rate(r, pop, smooth=SHOW_SMOOTH)[1] for r in network])
    mean, sd = rows.mean(axis=0), rows.std(axis=0, ddof=1)
    ax.plot(t, mean, color="black", lw=1.0, label=f"network: mean ± sd, {len(seeds)} seeds")
    ax.fill_between(t, mean - sd, mean + sd, color="black", alpha=0.2, lw=0)
    ax.plot(t, population_rate(dsode, pop, smooth=SHOW_SMOOTH)[1], color="tab:red", lw=1.2,
            label="dsODE")
    ax.set_ylabel(f"{pop} rate (Hz/neuron,\n{SHOW_SMOOTH:g} ms box)")
    ax.legend(fontsize=8, loc="upper right")
axes[0].set_title("a 10 Hz modulation of both drives, amplitude 1 kick/ms")
axes[-1].set_xlabel("time (ms)")
axes[-1].set_xlim(200, T - SHOW_SMOOTH)   # the box is one-sided at the ends
fig.tight_layout()
save_figure(fig, "stimulus_sine.png")
print("wrote stimulus_step.png, stimulus_sine.png")
