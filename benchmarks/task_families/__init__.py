"""Generated task families that nobody tunes tunelab's defaults on.

Each family is a generator (a seed in, arrays X and y out, every property of the task drawn from
that seed) and a stock spec beside this file (`<family>.yaml`: a built-in model and a search
space, written once and frozen). An instance is a family and a seed; `write` puts its data
(`data.npz`) and its spec in a folder, where the spec reads the data.

The seeds split the instances: seeds 0-2 of each family are the tuning set, the only tasks
tunelab's defaults may be chosen on; seeds 100-102 are the validation set, where they are
reported. The families:

  tabular_classification  scikit-learn's make_classification: 400-1,500 rows, 6-30 features,
                          2 to half of them informative, 2-5 classes of 1-2 clusters, class
                          separation 0.5-1.5, 0-8% of labels flipped;
  tabular_regression      make_regression (400-1,500 rows, 6-30 features, 2-10 informative,
                          noise) plus a planted product of two informative features, target
                          standardised: not linear, so depth matters;
  sequence                1,000 sequences of 16, 32 or 64 steps of uniform noise, one early
                          step (the first quarter) marked; the class is the marked value's
                          bin (2-4 bins): the answer sits up to 64 steps before the end;
  image                   1,200 12x12 grey images: one of 3-5 random 4x4 patterns (one per
                          class) planted at a random place in Gaussian noise of 0.3-0.9.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TUNING_SEEDS = (0, 1, 2)
VALIDATION_SEEDS = (100, 101, 102)


def tabular_classification(seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    rng = np.random.default_rng(seed)
    features = int(rng.integers(6, 31))
    informative = int(rng.integers(2, features // 2 + 1))
    redundant = int(rng.integers(0, (features - informative) // 2 + 1))
    classes = int(rng.integers(2, 6))
    clusters = int(rng.integers(1, 3))
    while classes * clusters > 2**informative:
        clusters, classes = (1, classes - 1) if clusters == 1 else (1, classes)
    x, y = make_classification(
        n_samples=int(rng.integers(400, 1501)),
        n_features=features,
        n_informative=informative,
        n_redundant=redundant,
        n_classes=classes,
        n_clusters_per_class=clusters,
        class_sep=float(rng.uniform(0.5, 1.5)),
        flip_y=float(rng.uniform(0.0, 0.08)),
        random_state=seed,
    )
    return x.astype(np.float32), y.astype(np.int64)


def tabular_regression(seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_regression

    rng = np.random.default_rng(seed)
    features = int(rng.integers(6, 31))
    informative = int(rng.integers(2, min(10, features) + 1))
    x, y, coef = make_regression(
        n_samples=int(rng.integers(400, 1501)),
        n_features=features,
        n_informative=informative,
        noise=float(rng.uniform(1.0, 40.0)),
        coef=True,
        random_state=seed,
    )
    i, j = rng.choice(np.flatnonzero(coef), size=2, replace=informative < 2)
    y = y / y.std() + float(rng.uniform(0.5, 1.5)) * x[:, i] * x[:, j]
    y = (y - y.mean()) / y.std()
    return x.astype(np.float32), y.astype(np.float32)


def sequence(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n, length, bins = 1000, int(rng.choice([16, 32, 64])), int(rng.integers(2, 5))
    x = np.zeros((n, length, 2), dtype=np.float32)
    x[:, :, 0] = rng.uniform(-1.0, 1.0, size=(n, length))
    marked = rng.integers(0, length // 4, size=n)
    x[np.arange(n), marked, 1] = 1.0
    value = x[np.arange(n), marked, 0]
    y = np.minimum(((value + 1.0) / 2.0 * bins).astype(np.int64), bins - 1)
    return x, y


def image(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n, side, size, classes = 1200, 12, 4, int(rng.integers(3, 6))
    patterns = rng.choice([-1.0, 1.0], size=(classes, size, size))
    x = rng.normal(0.0, float(rng.uniform(0.3, 0.9)), size=(n, 1, side, side))
    y = rng.integers(0, classes, size=n)
    rows, cols = rng.integers(0, side - size + 1, size=(2, n))
    for k in range(n):
        x[k, 0, rows[k] : rows[k] + size, cols[k] : cols[k] + size] += patterns[y[k]]
    return x.astype(np.float32), y.astype(np.int64)


FAMILIES: dict[str, Callable[[int], tuple[np.ndarray, np.ndarray]]] = {
    "tabular_classification": tabular_classification,
    "tabular_regression": tabular_regression,
    "sequence": sequence,
    "image": image,
}


@dataclass(frozen=True)
class Task:
    family: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.family}-{self.seed}"

    def write(self, folder: Path) -> tuple[Path, str]:
        """Writes the instance's data and spec under `folder`; the spec's path and a digest of
        spec and data (what a cached result of this instance must match)."""
        x, y = FAMILIES[self.family](self.seed)
        home = folder / self.name
        home.mkdir(parents=True, exist_ok=True)
        np.savez(home / "data.npz", X=x, y=y)
        text = (HERE / f"{self.family}.yaml").read_text()
        (home / "spec.yaml").write_text(text)
        digest = hashlib.sha256(text.encode() + x.tobytes() + y.tobytes()).hexdigest()[:16]
        return home / "spec.yaml", digest


def tasks(seeds: tuple[int, ...], families: list[str] | None = None) -> list[Task]:
    return [Task(f, s) for f in families or list(FAMILIES) for s in seeds]
