"""The sweep spec: YAML in, a validated `SweepSpec` out, or one located `SpecError`."""

from __future__ import annotations

from tunelab.spec._load import FLAG_KEYS, LoadedSpec, load_spec, parse_spec
from tunelab.spec._schema import (
    SAMPLERS,
    SCHEDULERS,
    Budget,
    CategoricalParam,
    ConstantParam,
    FloatParam,
    IntParam,
    Param,
    Resources,
    Scheduler,
    Searcher,
    SweepSpec,
)

__all__ = [
    "FLAG_KEYS",
    "SAMPLERS",
    "SCHEDULERS",
    "Budget",
    "CategoricalParam",
    "ConstantParam",
    "FloatParam",
    "IntParam",
    "LoadedSpec",
    "Param",
    "Resources",
    "Scheduler",
    "Searcher",
    "SweepSpec",
    "load_spec",
    "parse_spec",
]
