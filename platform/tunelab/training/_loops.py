"""Training loops by the name an architecture gives in `Architecture.trainer`."""

from __future__ import annotations

from typing import Any

from tunelab.training._gan import train_gan
from tunelab.training._supervised import train_supervised

TRAINERS: dict[str, Any] = {"supervised": train_supervised, "gan": train_gan}
