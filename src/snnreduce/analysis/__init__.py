"""Statistics of network and dsODE results (definitions in ``docs/analysis.md``).

Every function takes a :class:`~snnreduce.Result` — network results carry integer
population counts per step and individual spikes; dsODE results carry expected (real)
counts and no spikes — or plain arrays of counts with ``dt=`` (ms) and ``n=`` (neurons).
Pathway names are post-pre: ``"ei"`` is I -> E.
"""

from ._common import centred_box_mean, discard_steps, window_half_steps
from .attractor import AttractorCoordinates, attractor_coordinates, count_above
from .events import MFE, mfe
from .neo_export import density_to_neo, rates_to_neo, to_neo, to_neo_block
from .peaks import (PeakSequence, peak_differences, peak_sequence, period2_alternation,
                    pooled_peak_differences, sweep_peak_heights)
from .rates import firing_rate, firing_rates, population_rate
from .response import (LinearResponse, StepResponse, across_seeds, combine_linear_responses,
                       linear_response, step_response)
from .spectral import GAMMA_BAND, Spectrum, spectrum
from .synchrony import ssi
from .summary import summarize

__all__ = [
    "firing_rate", "firing_rates", "population_rate", "ssi", "mfe", "MFE", "spectrum", "Spectrum", "GAMMA_BAND",
    "peak_sequence", "peak_differences", "PeakSequence", "attractor_coordinates",
    "AttractorCoordinates", "count_above", "to_neo", "rates_to_neo", "density_to_neo", "to_neo_block",
    "summarize",
]
__all__ += ["step_response", "StepResponse", "linear_response", "LinearResponse",
            "combine_linear_responses", "across_seeds", "discard_steps", "centred_box_mean", "window_half_steps", "period2_alternation",
           "sweep_peak_heights", "pooled_peak_differences"]
