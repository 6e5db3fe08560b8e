"""The sweep spec: YAML in, a validated `SweepSpec` out, or one located `SpecError`."""

from __future__ import annotations

from tunelab.spec._checks import (
    check_compatible,
    check_spec,
    data_file,
    hyperband_bracket_size,
    hyperband_reduction_factor,
    ref_path,
    resolve_data,
    resolve_model,
)
from tunelab.spec._load import (
    FLAG_KEYS,
    LoadedSpec,
    load_spec,
    parse_spec,
    spec_from_mapping,
    spec_to_mapping,
)
from tunelab.spec._schema import (
    SAMPLERS,
    SCHEDULERS,
    Budget,
    CategoricalParam,
    Checkpoints,
    ConstantParam,
    Failure,
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
    "Checkpoints",
    "ConstantParam",
    "Failure",
    "FloatParam",
    "IntParam",
    "LoadedSpec",
    "Param",
    "Resources",
    "Scheduler",
    "Searcher",
    "SweepSpec",
    "check_compatible",
    "check_spec",
    "data_file",
    "hyperband_bracket_size",
    "hyperband_reduction_factor",
    "load_spec",
    "parse_spec",
    "ref_path",
    "resolve_data",
    "resolve_model",
    "spec_from_mapping",
    "spec_to_mapping",
]
