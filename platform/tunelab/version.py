"""tunelab's version, recorded in every checkpoint, model and promotion."""

from __future__ import annotations

__version__ = "0.1.0"
