"""Spiking engines: stepped, markov (event-driven) and the Markov surrogate."""

from ._common import refractory_rule

__all__ = ["refractory_rule"]
