"""Every malformed spec in corpus/ must fail with exactly the message in its first line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tunelab.errors import SpecError
from tunelab.spec import load_spec

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(CORPUS.glob("*.yaml"))


def expected_message(path: Path, shown_as: str) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# error: "), f"{path.name} must start with '# error: <message>'"
    return first.removeprefix("# error: ").replace("{file}", shown_as)


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_malformed_spec_gives_its_message(path: Path) -> None:
    shown_as = os.path.relpath(path)
    with pytest.raises(SpecError) as caught:
        load_spec(shown_as)
    assert str(caught.value) == expected_message(path, shown_as)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("max_epochs", "reduction_factor"), [(9, 3), (27, 3), (10, 3), (8, 2), (2, 3), (1, 3)]
)
def test_hyperband_bracket_size_is_rays_largest_bracket(
    max_epochs: int, reduction_factor: float
) -> None:
    """Feed Ray's HyperBand trials until its first band is full; the largest bracket it made is
    the number of trials that must be live at once for it to halve."""
    from ray.tune.schedulers import HyperBandScheduler

    from tunelab.spec import hyperband_bracket_size

    scheduler = HyperBandScheduler(max_t=max_epochs, reduction_factor=reduction_factor)
    scheduler.set_search_properties("val_accuracy", "max")
    sizes: dict[int, int] = {}
    while len(scheduler._hyperbands) == 1:
        scheduler.on_trial_add(None, object())  # type: ignore[arg-type]
        if len(scheduler._hyperbands) == 1:
            bracket = scheduler._state["bracket"]
            sizes[id(bracket)] = sizes.get(id(bracket), 0) + 1
    assert hyperband_bracket_size(max_epochs, reduction_factor) == max(sizes.values())
