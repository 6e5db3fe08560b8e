"""Interpretability reports: Captum's attributions for a trained model, chosen by its family,
checked for faithfulness, written as one self-contained HTML page, a JSON summary and PNG
figures, and logged to the run of the model they explain.

Each family (images, tabular, sequences, transfer, gan) is one module that registers itself
in `families`; importing this package registers them all."""

from __future__ import annotations

from tunelab.reports import _gan, _images, _sequences, _tabular, _transfer  # noqa: F401 (register)
from tunelab.reports._attribution import METHODS
from tunelab.reports._faithfulness import SANITY_EXAMPLES, SANITY_MAX_RANK_CORRELATION
from tunelab.reports._family import (
    Explanation,
    Family,
    Material,
    default_methods,
    explain,
    families,
    family_of,
    has_convolution,
    material_from_state,
)
from tunelab.reports._make import (
    DEFAULT_EXAMPLES,
    DEFAULT_OUT,
    ReportOutcome,
    Written,
    make_report,
    safe_child,
    write_report,
)
from tunelab.reports._target import Subject

__all__ = [
    "DEFAULT_EXAMPLES",
    "DEFAULT_OUT",
    "METHODS",
    "SANITY_EXAMPLES",
    "SANITY_MAX_RANK_CORRELATION",
    "Explanation",
    "Family",
    "Material",
    "ReportOutcome",
    "Subject",
    "Written",
    "default_methods",
    "explain",
    "families",
    "family_of",
    "has_convolution",
    "make_report",
    "material_from_state",
    "safe_child",
    "write_report",
]
