from __future__ import annotations

import numpy as np

from tunelab.data._base import DataSplits, Split

# Fractions of the 1,797 images; the rest is the test split.
TRAIN_FRACTION = 0.6
VAL_FRACTION = 0.2


def load_digits_splits(seed: int = 0) -> DataSplits:
    """scikit-learn's bundled 8x8 digits as (N, 1, 8, 8) float32 in [0, 1], stratified 60/20/20."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    test_size = 1.0 - TRAIN_FRACTION - VAL_FRACTION
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=seed
    )
    val_size = VAL_FRACTION / (TRAIN_FRACTION + VAL_FRACTION)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=val_size, stratify=y_rest, random_state=seed
    )
    return DataSplits(
        train=Split(x_train, y_train),
        val=Split(x_val, y_val),
        test=Split(x_test, y_test),
        task="classification",
        n_classes=10,
        input_shape=(1, 8, 8),
    )
