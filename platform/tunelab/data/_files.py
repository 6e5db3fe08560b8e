"""Data files that need no code: CSV (a named target column), NPZ (arrays X and y), and an
image folder (one subfolder per class)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tunelab.data._base import DataSplits
from tunelab.data._split import split_arrays

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
FILE_OPTIONS = {
    ".csv": {"target": None, "task": None},
    ".npz": {"task": None},
    "folder": {"size": None, "grayscale": None},
}


def file_kind(path: Path) -> str:
    return "folder" if path.is_dir() else path.suffix.lower()


def load_file(path: str | Path, **options: object) -> DataSplits:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    kind = file_kind(path)
    if kind == ".csv":
        return load_csv(path, **options)  # type: ignore[arg-type]
    if kind == ".npz":
        return load_npz(path, **options)  # type: ignore[arg-type]
    if kind == "folder":
        return load_image_folder(path, **options)  # type: ignore[arg-type]
    raise ValueError(f"{path.name}: not a .csv, .npz or image folder")


def load_csv(path: Path, target: str | None = None, task: str | None = None) -> DataSplits:
    """Every column but `target` is a numeric feature, standardised on the training split.
    A target of names or integers is classified; a target of other numbers is regressed."""
    import pandas as pd

    if not target:
        raise ValueError("a CSV dataset needs options.target, the name of its label column")
    frame = pd.read_csv(path)
    if target not in frame.columns:
        raise ValueError(
            f"{path.name} has no column '{target}'; columns: {', '.join(frame.columns)}"
        )
    features = frame.drop(columns=[target])
    text = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if text:
        raise ValueError(f"{path.name}: feature columns must be numeric; not: {', '.join(text)}")
    return split_arrays(
        features.to_numpy(np.float32),
        frame[target].to_numpy(),
        task=task,
        feature_names=[str(c) for c in features.columns],
        standardize=True,
    )


def load_npz(path: Path, task: str | None = None) -> DataSplits:
    """Arrays `X` (n examples of any shape) and `y` (n labels or targets), used as they are."""
    with np.load(path, allow_pickle=False) as arrays:
        missing = {"X", "y"} - set(arrays.files)
        if missing:
            raise ValueError(
                f"{path.name} must hold arrays X and y; it holds {', '.join(arrays.files)}"
            )
        return split_arrays(arrays["X"], arrays["y"], task=task)


def _mode(file: Path) -> str:
    from PIL import Image

    with Image.open(file) as image:
        return str(image.mode)


def load_image_folder(
    path: Path, size: int | None = None, grayscale: bool | None = None
) -> DataSplits:
    """One subfolder per class, its name the class name. Images become (C, H, W) in [0, 1],
    resized to `size` x `size` when given (otherwise all must share one size); grayscale by
    default when every image is."""
    from PIL import Image

    classes = sorted(p.name for p in path.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise ValueError(f"{path}: an image folder needs one subfolder per class, at least 2")
    files = [
        (f, label)
        for label, name in enumerate(classes)
        for f in sorted((path / name).iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise ValueError(
            f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in its subfolders"
        )
    if grayscale is None:  # each file is opened, read and closed: a folder can hold any number
        grayscale = all(_mode(f) in ("L", "1", "I;16") for f, _ in files)
    mode = "L" if grayscale else "RGB"
    arrays = []
    for file, _ in files:
        with Image.open(file) as original:
            image = original.convert(mode)
        if size:
            image = image.resize((int(size), int(size)))
        array = np.asarray(image, dtype=np.float32) / 255.0
        arrays.append(array[None] if grayscale else array.transpose(2, 0, 1))
        if arrays[-1].shape != arrays[0].shape:
            raise ValueError(
                f"{file}: image is {arrays[-1].shape[1:]}, the first was {arrays[0].shape[1:]}; "
                "set options.size to resize them all"
            )
    return split_arrays(
        np.stack(arrays),
        np.array([label for _, label in files], dtype=np.int64),
        task="classification",
        class_names=classes,
    )
