"""Synthetic tool-calling examples from tool specs, without a model (template-based, seeded)."""

from phi4studio.core.datasets.synthesis.generate import (
    DEFAULT_SYNTH_MIX,
    SOURCE,
    Synthesizer,
    allocate,
    synthesize,
)
from phi4studio.core.datasets.synthesis.results import make_arguments, make_result
from phi4studio.core.datasets.synthesis.values import ValueSampler, from_pattern

__all__ = [
    "DEFAULT_SYNTH_MIX",
    "SOURCE",
    "Synthesizer",
    "ValueSampler",
    "allocate",
    "from_pattern",
    "make_arguments",
    "make_result",
    "synthesize",
]
