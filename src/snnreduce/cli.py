"""The ``snnreduce`` command.

Every bad input ends in one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys

import click

from . import models as registry
from .io import ResultFileError
from .params import (PRESETS, NetworkParams, ParameterError, parse_value, read_parameter_file,
                     read_stimulus_table)


def _model_help(kinds=("network", "reduction", "baseline")) -> str:
    """``"snn = network (stepped); markov = ..."``: the registry's models of these kinds."""
    return "; ".join(f"{m.name} = {m.label}" for m in registry.MODELS.values() if m.kind in kinds)


def _option_help() -> str:
    """``"snn: drive, recurrent, ...; markov: ..."``: each model's options, from the registry."""
    return "; ".join(f"{m.name}: {', '.join(m.options)}" for m in registry.MODELS.values()
                     if m.options)


class InputError(click.ClickException):
    """Bad user input: reported on one line, exit status 2."""

    exit_code = 2


def parse_assignments(items, what="--set") -> dict:
    """``["p_ei=0.9", "drive=poisson"]`` -> ``{"p_ei": 0.9, "drive": "poisson"}``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f"{what} expects KEY=VALUE, got {item!r}")
        out[key.strip()] = parse_value(value.strip())
    return out


def options_per_model(items, models) -> dict | None:
    """A sweep's ``--option`` values by model: ``KEY=VALUE`` goes to every model of ``models``
    that takes option KEY (the registry says which), ``MODEL:KEY=VALUE`` to that model only."""
    names = [m.strip() for m in (models.split(",") if isinstance(models, str) else models)
             if m.strip()]
    out: dict[str, dict] = {}
    for item in items:
        head, _, raw = item.partition("=")
        model, colon, key = head.rpartition(":")
        value = parse_assignments([f"{key}={raw}" if colon else item], "--option")
        key = next(iter(value))
        if colon:
            targets = [model.strip()]
            if targets[0] not in names:
                raise InputError(f"--option {item!r} names model {targets[0]!r}, which is not "
                                 f"among --model {','.join(names)}")
        else:
            targets = [m for m in names if m in registry.MODELS
                       and key in registry.MODELS[m].options]
            if not targets:
                raise InputError(f"--option {key} is not an option of any of {', '.join(names)}")
        for m in targets:
            out.setdefault(m, {}).update(value)
    return out or None


def build_params(preset: str, assignments, params_file=None, k: float = 1.0) -> NetworkParams:
    """The preset, then the ``--params`` file's values over it, then the size knob k, then ``--set``."""
    params = NetworkParams.preset(preset)
    if params_file:
        params = params.replace(**read_parameter_file(params_file))
    if k != 1.0:
        params = params.scaled(k)
    changes = parse_assignments(assignments)
    return params.replace(**changes) if changes else params


def build_stimulus(texts, params_file=None, assignments=()):
    """The run's stimulus: the ``--params`` file's ``[stimulus]`` table, then ``--stimulus``
    over it population by population (the command line wins), then fixed sweep values
    ``stimulus.<POP>.<shape>.<field>=V``; None when there is none."""
    from .stimulus import Stimulus, as_stimulus, parse_stimulus

    stimulus = Stimulus()
    if params_file:
        table = read_stimulus_table(params_file)
        if table is not None:
            stimulus = Stimulus.from_dict(table)
    if texts:
        stimulus = stimulus.merged(parse_stimulus(list(texts)))
    for name, value in parse_assignments(assignments).items():
        stimulus = stimulus.with_value(name, value)
    return as_stimulus(stimulus)


_STIMULUS_HELP = (
    "External drive of one population (repeatable): POP:TERM[+TERM...], POP = E or I, "
    "rates in kicks/ms, times in ms. Terms: lambda (the population's lambda_e/lambda_i), "
    "const(RATE), step(at=MS,amp=RATE[,duration=MS,period=MS]) (a step, pulse or pulse train; "
    "amp is the change, not the level), sine(amp=RATE,hz=HZ[,mean=RATE,phase=DEG]), "
    "ramp(start=MS,stop=MS,amp=RATE), sampled(width=MS,values=[R1,R2,...]). "
    "E.g. --stimulus 'E:lambda+step(at=500,amp=2)' --stimulus 'I:lambda+sine(amp=1,hz=40)'. "
    "Over the --params file's [stimulus] table: the command line wins per population. "
    "The rate must stay >= 0 and sine.hz <= 500/dt. docs/stimuli.md.")
stimulus_option = click.option("--stimulus", "stimulus_texts", multiple=True,
                               metavar="POP:SHAPE", help=_STIMULUS_HELP)
preset_option = click.option("--preset", default="reference", show_default=True,
                             help=f"Named parameter set: {', '.join(PRESETS)}.")
set_option = click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
                          help="Change one parameter (repeatable), e.g. --set p_ei=0.9. "
                               "Pathways are post-pre: p_ei is I -> E.")
params_option = click.option("--params", "params_file", type=click.Path(dir_okay=False),
                             help="TOML or JSON parameter file (by suffix; flat or under a "
                                  "[network] table; a [stimulus] table, e.g. E = "
                                  "\"lambda+step(at=500,amp=2)\", is the stimulus). Its values "
                                  "are applied over --preset; then --k scales, then --set "
                                  "changes.")
k_option = click.option("--k", "k", type=float, default=1.0, show_default=True,
                        help="Size scaling: N <- N/k, S <- S*k (keeps N P S).")
t_end_option = click.option("--t-end", type=float, default=2000.0, show_default=True,
                            help="Simulated time, ms.")
force_option = click.option("--force", is_flag=True,
                            help="Run even if the memory estimate exceeds the available memory.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="snnreduce")
def cli():
    """Spiking E-I networks and their reduction to differential equations (dsODE)."""


@cli.command()
@click.option("--model", default="snn", show_default=True, help="One of: " + _model_help() + ".")
@preset_option
@set_option
@params_option
@k_option
@t_end_option
@click.option("--seed", type=int, default=None, help="Random seed (default: fresh entropy, recorded).")
@click.option("--option", "engine_options", multiple=True, metavar="KEY=VALUE",
              help="Engine option (repeatable), e.g. --option drive=poisson, "
                   "--option refractory_rule=paper for the dsODE. Options by model: "
                   + _option_help() + ".")
@click.option("--noise", type=click.Choice(["none", "finite-size"]), default="none",
              show_default=True, help="dsODE only: finite-size sampling noise.")
@click.option("--record", default="", metavar="NAMES",
              help="Comma-separated recordings, e.g. voltage,pending (network) — the dsODE "
                   "records its voltage density by default.")
@stimulus_option
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output NetCDF file.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@force_option
def run(model, preset, assignments, params_file, k, t_end, seed, engine_options, noise, record,
        stimulus_texts, out, quiet, force):
    """Run one model and save its Result to NetCDF."""
    from .api import run_model

    model = {"stepped": "snn"}.get(model, model)
    if model not in registry.MODELS:
        raise InputError(f"--model must be one of {', '.join(registry.MODELS)}, got {model!r}")
    if noise != "none":
        if model != "dsode":
            raise InputError("--noise applies to --model dsode only")
        model = "dsode-fs"
    params = build_params(preset, assignments, params_file, k)
    options = {**parse_assignments(engine_options, "--option"), "progress": not quiet,
               "check_memory": not force}
    records = tuple(r.strip() for r in record.split(",") if r.strip())
    # without --record a model keeps what `plot` needs (the dsODE: its voltage density)
    options["record"] = records or registry.get(model).default_record
    stimulus = build_stimulus(stimulus_texts, params_file)
    if stimulus is not None:
        options["stimulus"] = stimulus
    result = run_model(params, model, seed=seed, t_end=t_end, options=options)
    result.save(out)
    click.echo(f"{result.engine}: {t_end:g} ms in {result.wall_time:.2f} s (seed {result.seed}) "
               f"-> {out}", err=True)


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--discard", type=float, default=100.0, show_default=True,
              help="Initial transient to drop, ms.")
def stats(path, as_json, discard):
    """Firing rates, SSI, gamma peak and MFE summary of a saved result."""
    from . import load
    from .analysis import summarize

    from .resources import require_statistics_window

    result = load(path)
    # a discard that leaves no data is a request no statistic can answer: refuse it
    require_statistics_window(result.t_end, result.dt, discard)
    summary = summarize(result, discard=discard)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"{result.engine}  T = {result.t_end:g} ms  seed = {result.seed}  "
               f"(first {discard:g} ms dropped)")
    click.echo(format_summary_table(summary))


def format_summary_table(summary: dict) -> str:
    """Plain-text table of a :func:`snnreduce.analysis.summarize` dict."""
    from .analysis.statistics import STATISTICS, flatten_summary

    flat = flatten_summary(summary)
    lines = [f"{'':20s}{'E':>12s}{'I':>12s}"]
    for key, stat in STATISTICS.items():
        if f"{key}.E" in flat:
            lines.append(f"{stat.label:20s}" + "".join(_fmt(flat[f"{key}.{p}"]) for p in ("E", "I")))
    return "\n".join(lines)


def _fmt(value) -> str:
    return f"{'—':>12s}" if value is None else f"{value:12.4g}"


@cli.command()
@preset_option
@set_option
@params_option
@k_option
@t_end_option
@click.option("--seeds", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="Network seeds (0 .. N-1), run in parallel.")
@click.option("--models", default="snn,surrogate,dsode", show_default=True,
              help="Comma-separated: " + _model_help(("network", "reduction")) + ".")
@click.option("--baselines", default="", metavar="NAMES",
              help="Also run the paper's baselines, comma-separated: " + _model_help(("baseline",))
                   + "; e.g. --baselines rdm,fp (rdm needs NEST and tau_m > 0).")
@click.option("--dsode-option", "dsode_options", multiple=True, metavar="KEY=VALUE",
              help="dsODE option (repeatable), e.g. refractory_rule=paper.")
@click.option("--jobs", type=click.IntRange(1, 512), default=None, help="Parallel processes (default: all cores).")
@stimulus_option
@click.option("--step-smooth", type=float, default=None, metavar="MS",
              help="With a step in --stimulus: box (ms) the rates of the step response are "
                   "smoothed with (default 10 ms, step_report.SMOOTH_MS; 0: raw per-step "
                   "rates).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@force_option
def compare(preset, assignments, params_file, k, t_end, seeds, models, baselines, dsode_options,
            jobs, stimulus_texts, step_smooth, out, quiet, force):
    """Network vs Markov surrogate vs dsODE (and baselines): report.md, report.json, compare.png in OUT.

    With a step in --stimulus the report adds each model's step response (rate before and
    after, latency, overshoot, settling time) and step_response.png."""
    from .compare import compare as run_compare, write_report

    params = build_params(preset, assignments, params_file, k)
    model_list = [m.strip() for m in models.split(",") if m.strip()]
    baseline_list = [b.strip() for b in baselines.split(",") if b.strip()]
    stimulus = build_stimulus(stimulus_texts, params_file)
    try:
        comparison = run_compare(params, seeds=seeds, t_end=t_end, models=model_list, n_jobs=jobs,
                                 progress=not quiet, baselines=baseline_list,
                                 dsode_options=parse_assignments(dsode_options, "--dsode-option"),
                                 check_memory=not force, stimulus=stimulus,
                                 step_smooth=step_smooth)
    except ImportError as exc:  # e.g. --baselines rdm without NEST
        raise InputError(str(exc)) from None
    payload = write_report(comparison, out)
    click.echo(_comparison_table(payload))
    extra = ", step_response.png" if payload.get("step_figure") else ""
    click.echo(f"wrote {os.path.join(out, 'report.md')}, report.json, compare.png{extra} "
               f"({comparison.wall_time:.1f} s)", err=True)


@cli.command(name="response")
@preset_option
@set_option
@params_option
@k_option
@click.option("--t-end", type=float, default=2000.0, show_default=True,
              help="Simulated time of every run, ms (at least the transient plus 2 periods of "
                   "the lowest frequency).")
@click.option("--freqs", default="2,5,10,20,40,80,160", show_default=True, metavar="HZ,HZ,...",
              help="Stimulus frequencies, Hz (at most 500/dt).")
@click.option("--amp", type=float, default=0.5, show_default=True,
              help="Modulation amplitude, kicks/ms: the drive of each target population is "
                   "Q:lambda+sine(amp=AMP,hz=F) (at most lambda_Q, so the rate stays >= 0).")
@click.option("--targets", default="E,I", show_default=True,
              help="Populations whose drive is modulated (in phase): E,I, E or I.")
@click.option("--seeds", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="Network seeds (0 .. N-1); deterministic models run once.")
@click.option("--models", default="snn,dsode", show_default=True,
              help="Comma-separated: " + _model_help(("network", "reduction")) + ".")
@click.option("--transient", type=float, default=None,
              help="Time dropped at the start of every run, ms (default: per frequency "
                   "max(100 ms, one period)).")
@click.option("--dsode-option", "dsode_options", multiple=True, metavar="KEY=VALUE",
              help="dsODE option (repeatable), e.g. closure=paper.")
@click.option("--jobs", type=click.IntRange(1, 512), default=None,
              help="Parallel processes (default: all cores).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@force_option
def response_command(preset, assignments, params_file, k, t_end, freqs, amp, targets, seeds,
                     models, transient, dsode_options, jobs, out, quiet, force):
    """Linear response (gain and phase of the E and I rates) to a sinusoidal drive at each
    frequency: response.json, response.md, response.png (Bode figure) in OUT."""
    from .response_job import response, write_response

    params = build_params(preset, assignments, params_file, k)
    if params_file and read_stimulus_table(params_file) is not None:
        raise InputError(f"--params {params_file} has a [stimulus] table, but response makes "
                         f"its own sinusoidal stimulus (--freqs, --amp, --targets); remove it")
    model_list = [m.strip() for m in models.split(",") if m.strip()]
    for m in model_list:
        registry.get(m)
    dsode = parse_assignments(dsode_options, "--dsode-option")
    options = {m: dsode for m in model_list if registry.get(m).engine == "dsode"} if dsode else {}
    try:
        resp = response(params, freqs=freqs, amp=amp, seeds=seeds, models=model_list,
                        t_end=t_end, targets=targets, transient=transient, options=options,
                        n_jobs=jobs, progress=not quiet, check_memory=not force)
    except ImportError as exc:
        raise InputError(str(exc)) from None
    payload = write_response(resp, out)
    for pop in ("E", "I"):
        click.echo(f"{pop} gain (Hz per kicks/ms) / phase (deg)")
        click.echo(f"{'Hz':>8s}" + "".join(f"{m:>22s}" for m in payload["models"]))
        for i, hz in enumerate(resp.freqs):
            row = f"{hz:8g}"
            for m in payload["models"]:
                e = payload["models"][m][pop][i]
                row += f"{_fmt_gain(e['gain'], e['phase']):>22s}"
            click.echo(row)
    click.echo(f"wrote {os.path.join(out, 'response.json')}, response.md, response.png "
               f"({resp.wall_time:.1f} s)", err=True)


def _fmt_gain(gain, phase) -> str:
    return "—" if gain is None else f"{gain:.4g} / {phase:+.1f}"


def _comparison_table(payload) -> str:
    models = list(payload["models"])
    from .analysis.statistics import STATISTICS

    lines = [f"{'':16s}" + "".join(f"{m:>16s}" for m in models)]
    for key, label in ((k, stat.brief) for k, stat in STATISTICS.items() if stat.brief):
        for pop in ("E", "I"):
            row = f"{label + ' ' + pop:16s}"
            for m in models:
                value = payload["models"][m]["mean"][key][pop]
                row += f"{'—':>16s}" if value is None else f"{value:16.4g}"
            lines.append(row)
    return "\n".join(lines)


@cli.command(name="sweep")
@preset_option
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUES",
              help="Swept parameter (repeatable; several give their product): a range "
                   "start:stop:num (inclusive), a comma list, or one value (a fixed change). "
                   "Pathways are post-pre. A field of --stimulus is named "
                   "stimulus.POP.SHAPE.FIELD, e.g. --set stimulus.E.sine.hz=5:80:10 or "
                   "stimulus.E.step.amp=1,2 (stimulus.POP.FIELD when one term has FIELD).")
@params_option
@k_option
@t_end_option
@click.option("--model", "models", default="dsode", show_default=True,
              help="Comma-separated: " + ", ".join(registry.MODELS) + ".")
@click.option("--seeds", type=click.IntRange(1, 10000), default=1, show_default=True,
              help="Seeds per point for the stochastic models.")
@click.option("--jobs", type=click.IntRange(-1, 4096), default=None,
              help="Local processes (default: all cores).")
@click.option("--backend", type=click.Choice(["loky", "dask", "serial"]), default="loky",
              show_default=True, help="Where the runs execute.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="dask scheduler address, e.g. tcp://127.0.0.1:8786 (backend dask).")
@click.option("--option", "model_options", multiple=True, metavar="KEY=VALUE",
              help="Model option (repeatable): KEY=VALUE for every model that takes KEY, "
                   "MODEL:KEY=VALUE for one, e.g. --option closure=paper, "
                   "--option dsode:dv=2.")
@stimulus_option
@click.option("--store-raster", is_flag=True, help="Also keep every run's full Result on disk.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output NetCDF file.")
@click.option("--resume", is_flag=True, help="Continue an interrupted sweep into the same --out.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@force_option
def sweep_command(preset, assignments, params_file, k, t_end, models, seeds, jobs, backend,
                  scheduler, model_options, stimulus_texts, store_raster, out, resume, quiet,
                  force):
    """Run models over a parameter grid; statistics per point into one NetCDF file."""
    from .sweep import parse_grid, sweep

    fixed = [a for a in assignments if not _is_grid_entry(a)]
    grid = parse_grid([a for a in assignments if _is_grid_entry(a)])
    if not grid:
        raise InputError("sweep needs at least one --set NAME=START:STOP:NUM or NAME=V1,V2,...")
    fixed_stimulus = [a for a in fixed if a.strip().startswith("stimulus.")]
    fixed = [a for a in fixed if a not in fixed_stimulus]
    params = build_params(preset, fixed, params_file, k)
    stimulus = build_stimulus(stimulus_texts, params_file, fixed_stimulus)
    try:
        ds = sweep(params, grid, models=models, seeds=seeds, t_end=t_end, backend=backend,
                   n_jobs=jobs, scheduler=scheduler, out=out, resume=resume, progress=not quiet,
                   store_raster=store_raster, check_memory=not force,
                   model_options=options_per_model(model_options, models), stimulus=stimulus)
    except ImportError as exc:
        raise InputError(str(exc)) from None
    failed = int((ds["status"] != "ok").sum())
    click.echo(f"wrote {out}: {len(ds['model'])} model(s) x "
               + " x ".join(f"{len(ds[name])} {name}" for name in grid)
               + f" x {len(ds['seed'])} seed(s); {failed} failed run(s)", err=True)


def _is_grid_entry(assignment: str) -> bool:
    _, _, value = assignment.partition("=")
    return ":" in value or "," in value


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--param", required=True, help="The swept parameter on the x axis, e.g. p_ei.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Figure file (.png, .pdf, .svg).")
def bifurcation(path, param, out):
    """Bifurcation diagram of a sweep: successive E peak-height differences, network vs dsODE."""
    from .plot import bifurcation_figure, save_figure
    from .sweep import load_sweep

    _check_figure_name(out)
    ds = load_sweep(path)
    if param not in ds.dims:
        swept = [d for d in ds.dims if d not in ("model", "seed", "population", "peak")]
        raise InputError(f"--param must be a swept parameter of {path} ({', '.join(swept)}), got {param!r}")
    save_figure(bifurcation_figure(ds, param), out)
    click.echo(f"wrote {out}", err=True)


def _check_figure_name(out: str) -> None:
    if not out.lower().endswith((".png", ".pdf", ".svg")):
        raise InputError(f"--out must end in .png, .pdf or .svg, got {out!r}")


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Figure file (.png, .pdf, .svg).")
@click.option("--window", nargs=2, type=float, default=None, metavar="START STOP",
              help="Time window in ms (default: the last 300 ms).")
def plot(path, out, window):
    """Raster (network) or voltage density (dsODE) with rate traces."""
    from . import load
    from .plot import result_figure, save_figure

    _check_figure_name(out)
    result = load(path)
    save_figure(result_figure(result, window), out)
    click.echo(f"wrote {out}", err=True)


@cli.command(name="export")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--to", "to", required=True, type=click.Choice(["neo", "csv"]),
              help="neo: a neo.Block pickle (.pkl; rates as AnalogSignal in Hz, the dsODE "
                   "density, network spike trains). csv: rates.csv and spikes.csv in a directory.")
@click.option("--out", required=True, type=click.Path(),
              help="Output: a .pkl file (neo) or a directory (csv).")
@click.option("--smooth", type=float, default=1.0, show_default=True,
              help="Moving-average width of the rates, ms (0: per-step rate).")
def export_command(path, to, out, smooth):
    """Export a saved result to Neo or CSV, for Elephant, spreadsheets and other tools."""
    from . import load
    from .export import export_csv, export_neo

    if smooth < 0:
        raise InputError(f"--smooth must be >= 0 ms, got {smooth:g}")
    result = load(path)
    try:
        written = [export_neo(result, out, smooth=smooth)] if to == "neo" else \
            export_csv(result, out, smooth=smooth)
    except ImportError as exc:  # neo missing
        raise InputError(str(exc)) from None
    click.echo("wrote " + ", ".join(str(p) for p in written), err=True)


@cli.command(name="continue")
@preset_option
@set_option
@params_option
@k_option
@click.option("--param", "parameter", required=True,
              help="Continued parameter, a continuous NetworkParams field, e.g. p_ei (I -> E), "
                   "s_ee, tau_ee, lambda_e.")
@click.option("--from", "start", type=float, required=True, help="Start of the range.")
@click.option("--to", "stop", type=float, required=True, help="End of the range.")
@click.option("--option", "dsode_options", multiple=True, metavar="KEY=VALUE",
              help="dsODE option (repeatable), e.g. dv=2, refractory_rule=paper.")
@click.option("--network", "network", type=click.Path(dir_okay=False), default=None,
              help="Sweep file over the same parameter: its network peak-difference "
                   "histogram is drawn under the branches.")
@click.option("--t-transient", type=float, default=1000.0, show_default=True,
              help="Transient (ms) of the runs that give first guesses.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Output directory (cont.json, cont.png).")
@click.option("--quiet", is_flag=True, help="No progress lines.")
def continue_command(preset, assignments, params_file, k, parameter, start, stop, dsode_options,
                     network, t_transient, out, quiet):
    """Continuation of the deterministic dsODE: fixed points, cycles, bifurcation points."""
    from .continuation.diagram import continue_parameter, diagram_figure
    from .plot import save_figure

    params = build_params(preset, assignments, params_file, k)
    ds = None
    if network is not None:
        from .sweep import load_sweep

        ds = load_sweep(network)
        if parameter not in ds.dims:
            raise InputError(f"--network {network} is not a sweep over {parameter}")
    say = None if quiet else (lambda message: click.echo(message, err=True))
    diagram = continue_parameter(params, parameter, start, stop,
                                 options=parse_assignments(dsode_options, "--option"),
                                 t_transient=t_transient, progress=say)
    os.makedirs(out, exist_ok=True)
    diagram.save_json(os.path.join(out, "cont.json"))
    save_figure(diagram_figure(diagram, ds), os.path.join(out, "cont.png"))
    for i, sp in diagram.special_points():
        click.echo(f"{sp.kind:22s} {parameter} = {sp.parameter:.5f}  ({diagram.branches[i].kind})")
    click.echo(f"wrote {os.path.join(out, 'cont.json')}, cont.png ({diagram.wall_time:.1f} s)",
               err=True)


@cli.command()
def presets():
    """List the named parameter sets."""
    base = NetworkParams().to_dict()
    for name in PRESETS:
        params = NetworkParams.preset(name).to_dict()
        diff = {k: v for k, v in params.items() if v != base[k]}
        click.echo(f"{name:18s} {diff if diff else '(the reference set)'}")


def main(argv=None):
    """Entry point: one-line errors with exit status 2 for bad input."""
    try:
        cli.main(args=argv, prog_name="snnreduce", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("snnreduce: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"snnreduce: error: {exc.format_message()}", err=True)
        sys.exit(2)
    except (ParameterError, ResultFileError) as exc:
        click.echo(f"snnreduce: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("snnreduce: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
