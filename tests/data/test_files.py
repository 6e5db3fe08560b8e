"""Data files need no code: CSV with a target column, NPZ with X and y, an image folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tunelab.errors import SpecError
from tunelab.spec import load_spec
from tunelab.sweeps import load_data

SPEC = """
model: {model}
dataset: {dataset}
metric: val_accuracy
mode: max
budget: {{trials: 2, max_epochs: 2}}
space:
  lr: 1.0e-3
"""


def spec_in(folder: Path, model: str, dataset: str) -> Path:
    path = folder / "spec.yaml"
    path.write_text(SPEC.format(model=model, dataset=dataset))
    return path


def test_csv_with_named_labels_is_standardised_and_split_by_class(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = ["height,weight,kind"] + [
        f"{rng.normal(5 + i % 3):.3f},{rng.normal(50):.3f},{['cat', 'dog', 'eel'][i % 3]}"
        for i in range(90)
    ]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "pets.csv").write_text("\n".join(rows))
    # A relative path is read from the spec's folder, wherever the command runs.
    loaded = load_spec(spec_in(tmp_path, "mlp", "{file: data/pets.csv, options: {target: kind}}"))
    data = load_data(loaded)
    assert data.feature_names == ("height", "weight")
    assert data.class_names == ("cat", "dog", "eel") and data.n_classes == 3
    assert len(data.train) == 54 and sorted(np.bincount(data.train.y)) == [18, 18, 18]
    assert abs(data.train.x.mean(axis=0)).max() < 1e-5


def test_npz_images_feed_a_cnn(tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((40, 1, 6, 6), dtype=np.float32)
    np.savez(tmp_path / "blobs.npz", X=x, y=np.arange(40) % 2)
    data = load_data(load_spec(spec_in(tmp_path, "cnn", "blobs.npz")))
    assert data.input_shape == (1, 6, 6) and data.n_classes == 2 and data.task == "classification"


def test_image_folder_one_subfolder_per_class(tmp_path: Path) -> None:
    from PIL import Image

    for label, shade in (("dark", 20), ("light", 230)):
        (tmp_path / "pics" / label).mkdir(parents=True)
        for i in range(10):
            Image.new("L", (5, 7), color=shade + i).save(tmp_path / "pics" / label / f"{i}.png")
    data = load_data(load_spec(spec_in(tmp_path, "cnn", "{file: pics}")))
    assert data.input_shape == (1, 7, 5) and data.class_names == ("dark", "light")
    assert data.train.x.max() <= 1.0


def test_an_image_folder_larger_than_the_open_file_limit_loads(tmp_path: Path) -> None:
    """Each image is opened, read and closed: a folder of more files than the process may hold
    open at once loads (checked in a process whose limit is 64)."""
    import subprocess
    import sys

    from PIL import Image

    for label, shade in (("dark", 20), ("light", 230)):
        (tmp_path / "pics" / label).mkdir(parents=True)
        for i in range(60):
            Image.new("L", (4, 4), color=shade).save(tmp_path / "pics" / label / f"{i}.png")
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
        "from pathlib import Path\n"
        "from tunelab.data import load_file\n"
        "data = load_file(Path(sys.argv[1]))\n"
        "print(len(data.train) + len(data.val) + len(data.test))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "pics")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "120"


def test_a_csv_without_its_target_option_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    loaded = load_spec(spec_in(tmp_path, "mlp", "t.csv"))
    with pytest.raises(SpecError) as caught:
        load_data(loaded)
    assert str(caught.value).endswith(
        "spec.yaml:3: dataset: 't.csv' failed to load: ValueError: a CSV dataset needs "
        "options.target, the name of its label column"
    )
