from __future__ import annotations

import pytest

from tunelab.errors import NotFoundError
from tunelab.registry import Registry


def test_duplicate_name_is_rejected_unless_overridden() -> None:
    registry: Registry[int] = Registry("model")
    registry.register("cnn", 1)
    with pytest.raises(ValueError, match="'cnn' is already registered"):
        registry.register("cnn", 2)
    registry.register("cnn", 3, override=True)
    assert registry.get("cnn") == 3


def test_miss_lists_available_names_and_a_close_match() -> None:
    registry: Registry[int] = Registry("dataset")
    registry.register("digits", 1)
    registry.register("wine", 2)
    with pytest.raises(NotFoundError) as caught:
        registry.get("digit")
    assert (
        str(caught.value)
        == "unknown dataset 'digit'; did you mean 'digits'? Available: digits, wine"
    )
