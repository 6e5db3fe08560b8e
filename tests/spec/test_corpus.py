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
