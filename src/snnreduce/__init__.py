"""snnreduce: spiking E-I networks and their reduction to differential equations.

Pathway names are **post, pre** everywhere: ``s_ei`` is the kick an I spike gives an E neuron.
"""

from .api import __version__, reduce, simulate
from .io import ResultFileError, load
from .params import NetworkParams, ParameterError, PRESETS
from .result import Result

__all__ = ["NetworkParams", "ParameterError", "PRESETS", "Result", "ResultFileError",
           "simulate", "reduce", "load", "__version__"]
