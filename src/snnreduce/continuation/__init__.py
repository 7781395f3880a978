"""Fixed points, cycles and one-parameter continuation of the deterministic dsODE.

- :mod:`.problems` — the maps: the dsODE step (stationary states), the return map of a
  Poincaré section (cycles), plain Python maps (tests).
- :mod:`.newton` — finite-difference Jacobians, chord-Newton, multipliers.
- :mod:`.branch` — pseudo-arclength continuation, detection and location of fold,
  period-doubling, Neimark-Sacker/Hopf points, switching to the doubled branch.
- :mod:`.orbits` — :func:`find_fixed_point`, :func:`find_cycle` (with Results to analyse).
- :mod:`.diagram` — :func:`continue_parameter`, the recipe behind ``snnreduce continue``.

See docs/continuation.md. Pathway names are post, pre (``p_ei``: I -> E).
"""

from .branch import Branch, BranchPoint, SpecialPoint, continue_branch, switch_period_doubling
from .orbits import Cycle, FixedPoint, find_cycle, find_fixed_point
from .problems import CONTINUABLE, FunctionMap, ReturnProblem, StepProblem

__all__ = ["Branch", "BranchPoint", "SpecialPoint", "continue_branch", "switch_period_doubling",
           "Cycle", "FixedPoint", "find_cycle", "find_fixed_point", "CONTINUABLE",
           "FunctionMap", "ReturnProblem", "StepProblem"]
