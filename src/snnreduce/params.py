"""Parameters of a homogeneous excitatory-inhibitory spiking network.

Pathway names are written **post, pre** throughout the package, as in the paper:
``s_ei`` is the size of the kick that an *I* spike gives an *E* neuron, ``p_ie`` the
probability that an *E* spike reaches a given *I* neuron. Related code (NEST, Brian2)
often uses the opposite order.

Units: times in ms, rates of external kicks in kicks/ms, voltages dimensionless
(reset 0, threshold ``threshold`` = M, inhibitory reversal ``-inhibitory_reversal`` = -M_r).
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._files import atomic_write_text
from .validation import Choice, Interval, ParameterError

__all__ = ["NetworkParams", "PRESETS", "ParameterError", "POPULATIONS", "PATHWAYS", "parse_value",
           "read_parameter_file", "read_stimulus_table"]

POPULATIONS = ("E", "I")
#: Pathways in post-pre order: "ei" is I -> E.
PATHWAYS = ("ee", "ie", "ei", "ii")


_MS = "ms"
_POSITIVE_MS = Interval(0, closed="neither", units=_MS)
_PROBABILITY = Interval(0, 1, closed="both")
_NON_NEGATIVE = Interval(0)

# One declarative table of constraints: name -> rule (an Interval or a Choice of strings).
_RULES: dict[str, Interval | Choice] = {
    "n_e": Interval(1, integer=True),
    "n_i": Interval(1, integer=True),
    "threshold": Interval(0, closed="neither"),
    "inhibitory_reversal": Interval(0, closed="neither"),
    "lambda_e": Interval(0, units="kicks/ms"),
    "lambda_i": Interval(0, units="kicks/ms"),
    "tau_ee": _POSITIVE_MS,
    "tau_ie": _POSITIVE_MS,
    "tau_ei": _POSITIVE_MS,
    "tau_ii": _POSITIVE_MS,
    "tau_r": Interval(0, units=_MS),
    "tau_m": Interval(0, units="ms; 0 means no leak"),
    "p_ee": _PROBABILITY,
    "p_ie": _PROBABILITY,
    "p_ei": _PROBABILITY,
    "p_ii": _PROBABILITY,
    "s_ee": _NON_NEGATIVE,
    "s_ie": _NON_NEGATIVE,
    "s_ei": _NON_NEGATIVE,
    "s_ii": _NON_NEGATIVE,
    "dt": Interval(0, 1, closed="right", units=_MS),
    "refractory": Choice(("exponential", "fixed")),
    "connectivity": Choice(("annealed", "quenched")),
    "initial_state": Choice(("rest", "uniform")),
}


@dataclass(frozen=True, kw_only=True)
class NetworkParams:
    """A homogeneous E-I network of integrate-and-fire neurons with pending kicks.

    Pathway suffixes are **post, pre**: ``xy`` is the pathway from population Y to
    population X (``s_ei``: kick an I spike gives an E neuron).

    Parameters
    ----------
    n_e, n_i : int
        Number of excitatory / inhibitory neurons.
    threshold : float
        Spiking threshold M (dimensionless; reset is 0).
    inhibitory_reversal : float
        M_r > 0: the inhibitory reversal potential sits at ``-inhibitory_reversal``.
        An inhibitory kick of size S moves V by ``-S (V + M_r) / (M + M_r)``.
    lambda_e, lambda_i : float
        Rate of unit external kicks to each E / I neuron, kicks/ms.
    tau_ee, tau_ie, tau_ei, tau_ii : float
        Mean time (ms) for a pending kick of pathway post-pre to be consumed.
    tau_r : float
        Refractory time constant (ms): mean of the exponential exit time, or the
        fixed duration if ``refractory == "fixed"``.
    refractory : {"exponential", "fixed"}
        How neurons leave the refractory state.
    tau_m : float
        Membrane leak time constant (ms), ``dV/dt = -V / tau_m`` between kicks.
        0 means no leak. External kicks keep unit size with leak.
    p_ee, p_ie, p_ei, p_ii : float
        Probability that a spike of the pre population gives a neuron of the post
        population a pending kick.
    s_ee, s_ie, s_ei, s_ii : float
        Kick sizes (post, pre). Inhibitory sizes are at V = threshold scaled by the
        conductance factor above.
    dt : float
        Time step (ms) of the stepped engines and the reduced system; also the bin
        width of recorded population spike counts for event-driven engines.
    connectivity : {"annealed", "quenched"}
        Annealed: a fresh coin per spike and target. Quenched: a fixed random
        adjacency drawn once from the seed, without self-connections.
    initial_state : {"rest", "uniform"}
        All neurons at V = 0 ("rest", the paper's choice) or V uniform on [0, M).
    """

    n_e: int = 300
    n_i: int = 100
    threshold: float = 100.0
    inhibitory_reversal: float = 66.0
    lambda_e: float = 7.0
    lambda_i: float = 7.0
    tau_ee: float = 1.4
    tau_ie: float = 1.2
    tau_ei: float = 4.5
    tau_ii: float = 4.5
    tau_r: float = 4.0
    refractory: str = "exponential"
    tau_m: float = 0.0
    p_ee: float = 0.8
    p_ie: float = 0.8
    p_ei: float = 0.8
    p_ii: float = 0.8
    s_ee: float = 0.95
    s_ie: float = 1.25
    s_ei: float = 2.71
    s_ii: float = 2.45
    dt: float = 0.1
    connectivity: str = "annealed"
    initial_state: str = "rest"

    def __post_init__(self):
        for name, rule in _RULES.items():
            value = getattr(self, name)
            if name == "tau_m" and value is None:
                object.__setattr__(self, name, 0.0)
                continue
            object.__setattr__(self, name, rule.check(name, value))

    # ------------------------------------------------------------------ access
    @property
    def n(self) -> tuple[int, int]:
        """Population sizes ``(n_e, n_i)``."""
        return (self.n_e, self.n_i)

    def lam(self, population: str) -> float:
        """External kick rate (kicks/ms) of ``population`` ("E" or "I")."""
        return self.lambda_e if population == "E" else self.lambda_i

    def tau(self, pathway: str) -> float:
        """Pending-kick time constant (ms) of ``pathway`` (post-pre, e.g. "ei" = I->E)."""
        return getattr(self, "tau_" + pathway)

    def p(self, pathway: str) -> float:
        """Connection probability of ``pathway`` (post-pre)."""
        return getattr(self, "p_" + pathway)

    def s(self, pathway: str) -> float:
        """Kick size of ``pathway`` (post-pre)."""
        return getattr(self, "s_" + pathway)

    # --------------------------------------------------------------- building
    @classmethod
    def preset(cls, name: str, *, k: float = 1.0, **changes) -> "NetworkParams":
        """A named parameter set, optionally size-scaled by ``k`` and changed.

        Presets: ``reference`` (Chang et al. 2025), ``lcy-homogeneous``,
        ``lcy-regular``, ``lcy-synchronous`` (Li, Chariker & Young 2019).
        """
        if name not in PRESETS:
            raise ParameterError(
                f"preset must be one of {', '.join(sorted(PRESETS))}, got {name!r}"
            )
        params = cls(**PRESETS[name])
        if k != 1.0:
            params = params.scaled(k)
        return params.replace(**changes) if changes else params

    def scaled(self, k: float) -> "NetworkParams":
        """Size scaling: ``N <- N / k`` and ``S <- S * k``, which keeps ``N P S`` fixed.

        ``k < 1`` makes a larger network with weaker synapses.
        """
        if not isinstance(k, (int, float)) or isinstance(k, bool) or not k > 0 or not math.isfinite(k):
            raise ParameterError(f"k must be a finite number > 0, got {k!r}")
        changes = {f"s_{pw}": self.s(pw) * k for pw in PATHWAYS}
        changes["n_e"] = max(1, round(self.n_e / k))
        changes["n_i"] = max(1, round(self.n_i / k))
        return self.replace(**changes)

    def replace(self, **changes) -> "NetworkParams":
        """A copy with ``changes`` applied and validated; unknown names are rejected."""
        unknown = sorted(set(changes) - set(_RULES))
        if unknown:
            raise ParameterError(
                f"unknown parameter {unknown[0]!r}; allowed: {', '.join(_RULES)}"
            )
        return dataclasses.replace(self, **changes)

    # ---------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every parameter."""
        return {name: getattr(self, name) for name in _RULES}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NetworkParams":
        """Inverse of :meth:`to_dict`; unknown keys are rejected."""
        if not isinstance(data, dict):
            raise ParameterError(f"parameters must be a mapping, got {type(data).__name__}")
        return cls().replace(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "NetworkParams":
        return cls.from_dict(json.loads(text))

    def to_toml(self) -> str:
        """TOML text with one ``key = value`` line per parameter."""
        lines = []
        for name, value in self.to_dict().items():
            lines.append(f"{name} = {json.dumps(value)}" if isinstance(value, str) else f"{name} = {value!r}")
        return "\n".join(lines) + "\n"

    def save_toml(self, path: str | Path) -> None:
        atomic_write_text(Path(path), self.to_toml())

    @classmethod
    def load_toml(cls, path: str | Path) -> "NetworkParams":
        """Read parameters from a TOML file (flat, or under a ``[network]`` table)."""
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ParameterError(f"cannot read parameter file {path}: {exc}") from None
        if "network" in data and isinstance(data["network"], dict):
            data = data["network"]
        return cls.from_dict(data)


def read_parameter_file(path: str | Path) -> dict[str, Any]:
    """The parameter values in a TOML or JSON file (chosen by suffix), not yet validated.

    The values may be flat or under a ``network`` table/object, as :meth:`NetworkParams.to_toml`
    and :meth:`NetworkParams.to_json` write them; a file may name only some parameters. A
    top-level ``stimulus`` table (TOML ``[stimulus]``, JSON ``"stimulus"``) is not a parameter:
    it is left out here and read by :func:`read_stimulus_table`.

    Raises
    ------
    ParameterError
        For another suffix, an unreadable or malformed file, or content that is not a table.
    """
    return _read_sections(path)[0]


def read_stimulus_table(path: str | Path) -> dict[str, Any] | None:
    """The ``stimulus`` table of a TOML or JSON parameter file, not yet validated (None if it
    has none): population -> a grammar string (``E = "lambda+step(at=500,amp=2)"``) or term
    tables, the forms :meth:`snnreduce.stimulus.Stimulus.from_dict` reads."""
    return _read_sections(path)[1]


def _read_sections(path: str | Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``(network values, stimulus table or None)`` of a parameter file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ParameterError(f"parameter file must end in .toml or .json, got {str(path)!r}")
    try:
        text = path.read_text()
        data = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ParameterError(f"cannot read parameter file {path}: {exc}") from None
    stimulus = None
    if isinstance(data, dict) and "stimulus" in data:
        data = dict(data)
        stimulus = data.pop("stimulus")
        if not isinstance(stimulus, dict):
            raise ParameterError(f"parameter file {path}: 'stimulus' must be a table of "
                                 f"population = shape, got a {type(stimulus).__name__}")
    if isinstance(data, dict) and isinstance(data.get("network"), dict):
        data = data["network"]
    if not isinstance(data, dict):
        raise ParameterError(f"parameter file {path} must hold a table of name = value, "
                             f"got a {type(data).__name__}")
    return data, stimulus


def parse_value(text: str):
    """Read a command-line value: int, float, ``none``/``null`` -> None, else the string."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text.lower() in ("none", "null"):
        return None
    return text


_LCY = dict(
    s_ee=5.0, s_ie=2.0, s_ei=4.91, s_ii=4.91,
    p_ee=0.15, p_ie=0.5, p_ei=0.5, p_ii=0.4,
    tau_ie=1.2,
)

#: Named parameter sets (only the values that differ from the defaults).
PRESETS: dict[str, dict[str, Any]] = {
    "reference": {},
    "lcy-homogeneous": {**_LCY, "tau_ee": 4.0},
    "lcy-regular": {**_LCY, "tau_ee": 1.7},
    "lcy-synchronous": {**_LCY, "tau_ee": 1.4},
}
