"""CF-style metadata (``units``, ``long_name``) of the variables and parameters snnreduce writes.

One table for run files (:mod:`snnreduce.io`) and sweep files (:mod:`snnreduce.sweep`), so a
quantity is described the same way in both. Units follow UDUNITS as CF asks: ``"ms"``,
``"ms-1"``, ``"s"``, and ``"1"`` for dimensionless numbers (voltages are dimensionless: reset
0, threshold M) and counts. Pathway names are **post, pre**: ``"ei"`` is the pathway I -> E.
"""

from __future__ import annotations

__all__ = ["CONVENTIONS", "PARAMETER_ATTRS", "RECORD_ATTRS", "COORDINATE_ATTRS",
           "parameter_attrs", "PARAMETER_ATTR_PREFIX", "label_sweep_coordinates",
           "FINAL_STATE_PREFIX", "final_state_attrs", "RECORD_DIMS", "SAMPLED_RECORDS"]

CONVENTIONS = "CF-1.10"

#: Global attribute ``param_<name>`` holds parameter ``<name>`` of a run file.
PARAMETER_ATTR_PREFIX = "param_"

_POP = {"e": "E", "i": "I"}


def _pathway(pathway: str) -> str:
    post, pre = _POP[pathway[0]], _POP[pathway[1]]
    return f"pathway {pathway} (post-pre): {pre} -> {post}"


def _parameter_table() -> dict[str, tuple[str | None, str]]:
    table = {
        "n_e": ("1", "number of excitatory (E) neurons"),
        "n_i": ("1", "number of inhibitory (I) neurons"),
        "threshold": ("1", "spiking threshold M (dimensionless voltage; reset 0)"),
        "inhibitory_reversal": ("1", "M_r: the inhibitory reversal potential is -M_r "
                                     "(dimensionless voltage)"),
        "lambda_e": ("ms-1", "rate of external unit kicks to each E neuron"),
        "lambda_i": ("ms-1", "rate of external unit kicks to each I neuron"),
        "tau_r": ("ms", "refractory time constant (mean or fixed duration)"),
        "refractory": (None, "refractory exit rule: 'exponential' or 'fixed'"),
        "tau_m": ("ms", "membrane leak time constant (0: no leak)"),
        "dt": ("ms", "time step"),
        "connectivity": (None, "'annealed' (a fresh coin per spike and target) or 'quenched'"),
        "initial_state": (None, "initial voltages: 'rest' (all 0) or 'uniform' on [0, M)"),
    }
    for pw in ("ee", "ie", "ei", "ii"):
        table[f"tau_{pw}"] = ("ms", f"mean consumption time of a pending kick, {_pathway(pw)}")
        table[f"p_{pw}"] = ("1", f"connection probability, {_pathway(pw)}")
        table[f"s_{pw}"] = ("1", f"kick size (dimensionless voltage), {_pathway(pw)}")
    return table


#: Parameter name -> (units or None for a string, long_name).
PARAMETER_ATTRS: dict[str, tuple[str | None, str]] = _parameter_table()

#: Record / data variable name -> attributes.
RECORD_ATTRS: dict[str, dict[str, str]] = {
    "population_counts": {"units": "1", "cell_methods": "time: sum",
                          "long_name": "spikes of the population in the step [time, time + dt) "
                                       "(expected count for the deterministic reduced system)"},
    "spike_times": {"units": "ms", "long_name": "spike time"},
    "spike_neurons": {"units": "1", "long_name": "index of the neuron that spiked "
                                                "(0 .. n_e-1 excitatory, then inhibitory)"},
    "voltage": {"units": "1", "long_name": "membrane potential at the end of the step "
                                           "(dimensionless; reset 0, threshold M)"},
    "pending": {"units": "1", "long_name": "pending kicks summed over the post population, "
                                           "per pathway (post-pre)"},
    "pending_var": {"units": "1", "long_name": "variance across neurons of the pending kicks, "
                                               "per pathway (post-pre)"},
    "refractory": {"units": "1", "long_name": "number of refractory neurons"},
    "bin_count": {"units": "1", "long_name": "neurons in the voltage bin"},
    "bin_mean": {"units": "1", "long_name": "mean voltage of the neurons in the bin "
                                            "(dimensionless)"},
    "bin_edges": {"units": "1", "long_name": "voltage bin bounds (dimensionless)"},
}

_FLAG_POPULATION = {"flag_values": [0, 1], "flag_meanings": "E I", "units": "1"}

#: Coordinate name -> attributes (run and sweep files).
COORDINATE_ATTRS: dict[str, dict] = {
    "time": {"units": "ms", "axis": "T", "long_name": "start of the step"},
    "record_time": {"units": "ms", "long_name": "end of the sampled step (records kept every "
                                                "record_every ms)"},
    "population": {"long_name": "population: E excitatory, I inhibitory"},
    "pathway": {"long_name": "synaptic pathway, post-pre ('ei': I -> E)"},
    "bin": {"units": "1", "long_name": "centre of the voltage bin (dimensionless)",
            "bounds": "bin_edges"},
    "neuron": {"units": "1", "long_name": "global neuron index (0 .. n_e-1 E, then I)"},
    "neuron_population": {**_FLAG_POPULATION, "long_name": "population of the neuron"},
    "spike_population": {**_FLAG_POPULATION, "long_name": "population of the neuron that spiked"},
    "model": {"long_name": "model that produced the run"},
    "seed": {"long_name": "seed label of the stochastic runs"},
    "peak": {"units": "1", "long_name": "index of the E population-count peak"},
}


def parameter_attrs(name: str) -> dict[str, str]:
    """``units`` (numbers only) and ``long_name`` of parameter ``name``, for a coordinate."""
    units, long_name = PARAMETER_ATTRS[name]
    return {"long_name": long_name} if units is None else {"units": units, "long_name": long_name}


def label_sweep_coordinates(ds, parameters):
    """Give a sweep Dataset's coordinates their CF attributes and the ``Conventions`` attribute.

    ``parameters`` are the swept parameter names (each a dimension coordinate of ``ds``);
    their ``long_name`` spells out the post-pre pathway (``p_ei``: I -> E). Returns ``ds``.
    """
    for name in parameters:
        ds[name].attrs.update(parameter_attrs(name))
        if ds[name].dtype.kind == "f":
            ds[name].encoding["_FillValue"] = None  # CF: no missing values in a coordinate
    for name in ("model", "seed", "population", "peak"):
        if name in ds.coords:
            ds[name].attrs.update(COORDINATE_ATTRS[name])
    ds.attrs["Conventions"] = CONVENTIONS
    return ds


#: Variables and global attributes ``final_state_<key>`` of a run file hold entry ``<key>`` of
#: ``Result.final_state`` (global attribute ``final_state``: the JSON list of the keys).
FINAL_STATE_PREFIX = "final_state_"

#: Units and meaning of the final-state entries shared by several engines. The others are
#: engine-internal arrays described by their engine's module; all other arrays the engines
#: write are dimensionless (neurons, kicks, voltages, fractions, indices, random-stream
#: words): units "1".
_FINAL_STATE = {
    "voltage": ("1", "membrane potential of every neuron (dimensionless)"),
    "pending": ("1", "pending kicks of every neuron per pathway (post-pre)"),
    "refractory_left": ("ms", "refractory time left of every neuron"),
    "step": ("1", "global index of the next step"),
    "t_origin": ("ms", "origin of the run's step grid"),
    "time": ("ms", "time at which the state was taken"),
    # the event-driven (markov) engine's clocks
    "last_update": ("ms", "time of each neuron's last update"),
    "exit_times": ("ms", "queued refractory exit times"),
    "times": ("ms", "current and next event time"),
}


def final_state_attrs(key: str, engine: str) -> dict[str, str]:
    """``units`` and ``long_name`` of the final-state variable of entry ``key``."""
    units, meaning = _FINAL_STATE.get(key, ("1", f"engine-internal array {key!r}"))
    return {"units": units, "long_name": f"final state of the {engine} run, to continue it "
                                         f"exactly (continue_from): {meaning}"}


#: Dimensions of every record a model can produce (names of ``Result.records``).
RECORD_DIMS: dict[str, tuple[str, ...]] = {
    # membrane potential of every neuron at the end of each step (network engines)
    "voltage": ("time", "neuron"),
    # total pending kicks summed over the post population, per pathway
    "pending": ("time", "pathway"),
    # variance across neurons of the pending kicks per pathway (reduced system)
    "pending_var": ("time", "pathway"),
    # number of refractory neurons per population
    "refractory": ("time", "population"),
    # reduced system: neurons per voltage bin and their mean voltage
    "bin_count": ("time", "population", "bin"),
    "bin_mean": ("time", "population", "bin"),
    # n_bins + 1 edges in memory; files hold them as the CF bounds (bin, 2) of a "bin" coordinate
    "bin_edges": ("bin_edge",),
}
#: The records kept once per step, or once every ``record_every`` ms (contract item 5); a
#: file gives the sampled ones the dimension ``record_time`` instead of ``time``.
SAMPLED_RECORDS = tuple(name for name, dims in RECORD_DIMS.items() if dims[0] == "time")
