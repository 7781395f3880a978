"""snnreduce: spiking E-I networks and their reduction to differential equations.

Pathway names are **post, pre** everywhere: ``s_ei`` is the kick an I spike gives an E neuron.
"""

import os as _os
import sys as _sys

# numba's default OpenMP threading layer and the OpenMP runtime inside NEST's wheel crash
# when both live in one process (a segfault in nest.ResetKernel after a parallel kernel
# ran). numba's own "workqueue" pool avoids it; a user's NUMBA_THREADING_LAYER still wins.
if "NUMBA_THREADING_LAYER" not in _os.environ:
    _os.environ["NUMBA_THREADING_LAYER"] = "workqueue"
    if "numba" in _sys.modules:
        _sys.modules["numba"].config.THREADING_LAYER = "workqueue"

from .api import __version__, reduce, simulate  # noqa: E402
from .io import ResultFileError, load  # noqa: E402
from .params import NetworkParams, ParameterError, PRESETS  # noqa: E402
from .result import Result  # noqa: E402

__all__ = ["NetworkParams", "ParameterError", "PRESETS", "Result", "ResultFileError",
           "simulate", "reduce", "load", "__version__"]
