"""numba's threading layer, chosen where a parallel kernel is compiled (not at package import).

numba's default OpenMP threading layer and the OpenMP runtime inside NEST's wheel crash when
both live in one process (a segfault in ``nest.ResetKernel`` after a parallel kernel ran);
numba's own "workqueue" pool avoids it. The layer is fixed at the first parallel launch, so
the modules holding ``parallel=True`` kernels call :func:`prefer_workqueue` when imported.
Setting ``numba.config`` rather than ``os.environ`` leaves the user's environment (and that
of child processes) as it was; a user's ``NUMBA_THREADING_LAYER`` still wins.
"""

from __future__ import annotations

import os

__all__ = ["prefer_workqueue"]


def prefer_workqueue() -> None:
    """Use numba's workqueue threading layer unless the user chose one."""
    if "NUMBA_THREADING_LAYER" in os.environ:
        return
    import numba

    numba.config.THREADING_LAYER = "workqueue"
