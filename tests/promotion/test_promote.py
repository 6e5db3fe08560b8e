"""Promotion, rollback, reproduction, prediction and serving on a real MLflow store and
registry, with two real sweeps: one weak, one strong."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow import MlflowClient

from tunelab.cli import main
from tunelab.data import datasets
from tunelab.spec import parse_spec
from tunelab.sweeps import Stores, run_sweep

pytestmark = pytest.mark.e2e

SPEC = """
name: {name}
model: mlp
dataset: digits
metric: val_accuracy
mode: max
budget: {{trials: 1, max_epochs: {epochs}, concurrency: 1}}
searcher: random
scheduler: fifo
space:
  lr: {{type: constant, value: {lr}}}
  width: {{type: constant, value: 32}}
{constraints}
"""


@pytest.fixture(scope="module")
def store(ray_session: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        sweeps = {}
        for name, epochs, lr, constraints in (
            ("weak", 1, 1e-4, ""),
            ("strong", 4, 1e-2, ""),
            ("too-big", 2, 1e-2, "constraints: {param_count: {max: 100}}"),
        ):
            spec = SPEC.format(name=name, epochs=epochs, lr=lr, constraints=constraints)
            sweeps[name] = run_sweep(
                parse_spec(spec, str(folder / f"{name}.yaml"), {"--name": name}),
                stores=Stores.resolve(tracking_uri=uri, results_dir=str(folder / "results")),
                live=False,
            )
        yield {"uri": uri, "folder": folder, "client": MlflowClient(uri, uri), "sweeps": sweeps}


def tunelab(store: dict[str, Any], *args: str) -> int:
    return main([*args, "--tracking-uri", store["uri"]])


def champion(store: dict[str, Any], name: str) -> str:
    return str(store["client"].get_model_version_by_alias(name, "champion").version)


def history(store: dict[str, Any], name: str) -> list[dict[str, Any]]:
    tags = store["client"].get_registered_model(name).tags
    return [json.loads(tags[k]) for k in sorted(tags) if k.startswith("tunelab.history.")]


def register_by_hand(client: MlflowClient, name: str, run_id: str) -> None:
    """The run's model as the champion of `name`, registered as `promote` does it (without the
    gates): the version keeps the digest the run recorded when it logged the model."""
    from tunelab.tracking.tags import TAG_MODEL_SHA256

    client.create_registered_model(name)
    digest = client.get_run(run_id).data.tags[TAG_MODEL_SHA256]
    version = client.create_model_version(
        name, f"runs:/{run_id}/model", run_id, tags={TAG_MODEL_SHA256: digest}
    )
    client.set_registered_model_alias(name, "champion", version.version)


def test_promotion_lifecycle_gates_audit_and_rollback(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    client: MlflowClient = store["client"]
    name = "digits-mlp"

    # No champion yet: the first promotion passes.
    assert tunelab(store, "promote", "weak", "--model-name", name) == 0
    assert champion(store, name) == "1"
    v1 = client.get_model_version(name, "1")
    weak_run = store["sweeps"]["weak"].best["run_id"]
    assert v1.run_id == weak_run and v1.tags["tunelab.run_id"] == weak_run
    assert v1.tags["tunelab.sweep"] == "weak" and v1.tags["tunelab.decision"] == "promote"
    for key in ("tunelab.test_accuracy", "tunelab.val_accuracy", "tunelab.data_fingerprint"):
        assert v1.tags[key], key
    assert v1.tags["tunelab.code_version"].startswith("tunelab ")
    assert v1.tags["tunelab.user"] and v1.tags["tunelab.time"].endswith("Z")
    gates = json.loads(v1.tags["tunelab.gates"])
    assert (
        gates["beats_champion"]["passed"] is True
        and "no champion" in gates["beats_champion"]["detail"]
    )
    assert gates["reproducible"]["passed"] is None and gates["interpretability"]["passed"] is None

    # A better challenger takes over.
    assert tunelab(store, "promote", "strong", "--model-name", name) == 0
    assert champion(store, name) == "2"
    assert str(client.get_model_version_by_alias(name, "challenger").version) == "2"
    strong_acc = float(client.get_model_version(name, "2").tags["tunelab.test_accuracy"])
    assert strong_acc > float(v1.tags["tunelab.test_accuracy"])

    # A worse one is refused, named by its gate; the champion stays.
    capsys.readouterr()
    assert tunelab(store, "promote", "weak", "--model-name", name) == 1
    out = capsys.readouterr().out
    assert "refused (beats_champion)" in out and "champion is still version 2" in out
    assert champion(store, name) == "2"
    assert str(client.get_model_version_by_alias(name, "challenger").version) == "3"
    assert client.get_model_version(name, "3").tags["tunelab.decision"] == "refuse"

    # --force needs a reason, and keeps it.
    assert tunelab(store, "promote", "weak", "--model-name", name, "--force") == 2
    assert len(client.search_model_versions(f"name = '{name}'")) == 3  # nothing registered
    reason = "ship the smaller model for the demo"
    assert (
        tunelab(store, "promote", "weak", "--model-name", name, "--force", "--reason", reason) == 0
    )
    assert champion(store, name) == "4"
    assert client.get_model_version(name, "4").tags["tunelab.reason"] == reason

    # Rollback: back to the champion version 4 replaced.
    assert tunelab(store, "rollback", name) == 0
    assert champion(store, name) == "2"
    assert json.loads(client.get_model_version(name, "2").tags["tunelab.rollback"])["from"] == "4"

    events = history(store, name)
    assert [e["action"] for e in events] == ["promote", "promote", "refuse", "force", "rollback"]
    assert [(e["champion_before"], e["champion_after"]) for e in events] == [
        (None, "1"),
        ("1", "2"),
        ("2", "2"),
        ("2", "4"),
        ("4", "2"),
    ]
    assert events[2]["gates"]["beats_champion"]["passed"] is False
    assert events[3]["reason"] == reason

    capsys.readouterr()
    assert tunelab(store, "models", name) == 0
    out = capsys.readouterr().out
    actions = re.findall(r"^\s+\d+\. \S+ [^:]+: (\w+) version", out, flags=re.MULTILINE)
    assert actions == ["promote", "promote", "refuse", "force", "rollback"]
    assert "version 2 [challenger" not in out and "version 2 [champion]" in out
    assert reason in out


def test_a_failed_report_sanity_check_blocks_promotion(store: dict[str, Any]) -> None:
    client: MlflowClient = store["client"]
    run_id = store["sweeps"]["strong"].best["run_id"]
    client.set_tag(run_id, "tunelab.report.sanity", "failed")
    try:
        assert tunelab(store, "promote", "strong", "--model-name", "gated") == 1
        assert client.get_registered_model("gated").aliases.get("champion") is None
        gates = history(store, "gated")[0]["gates"]
        assert gates["interpretability"]["passed"] is False
        assert gates["beats_champion"]["passed"] is True
    finally:
        client.delete_tag(run_id, "tunelab.report.sanity")


def test_a_challenger_outside_its_sweeps_constraints_is_refused(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Its one trial is too big for the constraint (and stopped at its first epoch for it): the
    # best there is, and refused, with the constraint named.
    assert tunelab(store, "promote", "too-big", "--model-name", "small-only") == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.strip().startswith("feasible"))
    assert "FAIL" in line and "breaks param_count <= 100" in line, out
    assert store["client"].get_registered_model("small-only").aliases.get("champion") is None
    assert history(store, "small-only")[0]["gates"]["feasible"]["passed"] is False


def test_reproduce_retrains_a_trial_to_the_same_metric(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = store["sweeps"]["strong"].best["run_id"]
    assert tunelab(store, "reproduce", run_id) == 0
    out = capsys.readouterr().out
    assert "reproducible" in out and "NOT" not in out and "4 epochs" in out
    assert (
        tunelab(store, "promote", "strong", "--model-name", "repro", "--require-reproducible") == 0
    )
    gate = history(store, "repro")[0]["gates"]["reproducible"]
    assert gate["passed"] is True and "relative difference" in gate["detail"]


def test_predict_on_csv_and_npy_matches_the_model(
    store: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import mlflow.pyfunc

    client: MlflowClient = store["client"]
    run_id = store["sweeps"]["strong"].best["run_id"]
    register_by_hand(client, "predict-me", run_id)
    x = datasets.get("digits").load().test.x[:6]
    expected = mlflow.pyfunc.load_model(f"runs:/{run_id}/model").predict(
        x
    )  # the model as MLflow loads it
    csv = tmp_path / "examples.csv"
    header = ",".join(f"pixel{i}" for i in range(64))
    np.savetxt(csv, x.reshape(6, -1), delimiter=",", header=header, comments="")
    np.save(tmp_path / "examples.npy", x)
    for source in (csv, tmp_path / "examples.npy"):
        out = tmp_path / f"{source.suffix[1:]}.out.csv"
        assert (
            tunelab(store, "predict", "models:/predict-me@champion", str(source), "--out", str(out))
            == 0
        )
        table = np.loadtxt(out, delimiter=",", skiprows=1)
        assert (table[:, 0] == expected.argmax(1)).all()
        np.testing.assert_allclose(table[:, 1:], expected, rtol=1e-4, atol=1e-6)
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n")
    capsys.readouterr()
    assert tunelab(store, "predict", "models:/predict-me@champion", str(bad)) == 2
    assert "each example has 3 values, the model takes 64" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(store: dict[str, Any], model: str) -> tuple[subprocess.Popen[bytes], int]:
    """`tunelab serve MODEL` on a free port, as a user starts it."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tunelab.cli", "serve", model, "--port", str(port),
         "--tracking-uri", store["uri"]],
        cwd=store["folder"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    return server, port


def test_tunelab_serves_the_verified_champion_over_http(store: dict[str, Any]) -> None:
    import mlflow.pyfunc

    client: MlflowClient = store["client"]
    run_id = store["sweeps"]["strong"].best["run_id"]
    register_by_hand(client, "served", run_id)
    model = mlflow.pyfunc.load_model("models:/served@champion")
    assert model.metadata.get_input_schema() is not None  # a signature
    assert model.metadata.saved_input_example_info is not None  # an input example

    server, port = serve(store, "models:/served@champion")
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        server.stderr.read().decode()[-2000:] if server.stderr else ""
                    ) from None
                time.sleep(0.5)
        x = datasets.get("digits").load().test.x[:4]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"inputs": x.tolist()}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            served = np.asarray(json.loads(response.read())["predictions"])
        np.testing.assert_allclose(served, model.predict(x), rtol=1e-5, atol=1e-6)
        assert served.shape == (4, 10)
    finally:
        server.terminate()
        server.wait(timeout=30)
        client.delete_registered_model("served")


def _edit_pyfunc_code(model: Path, client: MlflowClient, name: str, version: str) -> None:
    code = next(model.rglob("_pyfunc_model.py"))  # the code `mlflow models serve` runs
    code.write_text(code.read_text() + "\nimport os; os.system('echo pwned')\n")


def _delete_digest(model: Path, client: MlflowClient, name: str, version: str) -> None:
    from tunelab.tracking.tags import TAG_MODEL_SHA256

    client.delete_model_version_tag(name, version, TAG_MODEL_SHA256)


def _swap_checkpoint(model: Path, client: MlflowClient, name: str, version: str) -> None:
    import torch

    checkpoint = next(model.rglob("checkpoint.pt"))
    state = torch.load(checkpoint, weights_only=True)
    state["model_state"] = {k: torch.zeros_like(v) for k, v in state["model_state"].items()}
    torch.save(state, checkpoint)  # a readable checkpoint, other weights


@pytest.mark.parametrize("tamper", [_edit_pyfunc_code, _delete_digest, _swap_checkpoint])
def test_a_tampered_model_is_refused_by_predict_serve_report_and_promote(
    store: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], tamper: Any
) -> None:
    import shutil

    from tunelab.tracking.tags import TAG_MODEL_SHA256

    client: MlflowClient = store["client"]
    name = "digits-mlp"  # registered by the lifecycle test, with its model's digest
    version = champion(store, name)
    ref = f"models:/{name}@champion"
    run_id = client.get_model_version(name, version).run_id
    location = Path(client.get_run(run_id).info.artifact_uri.removeprefix("file://"))
    model = location / "model"  # in the artifact store
    kept = tmp_path / "kept"
    shutil.copytree(model, kept)
    digest = client.get_model_version(name, version).tags[TAG_MODEL_SHA256]
    x = tmp_path / "x.npy"
    np.save(x, datasets.get("digits").load().test.x[:2])
    try:
        tamper(model, client, name, version)
        capsys.readouterr()
        assert tunelab(store, "predict", ref, str(x)) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"refusing to load {ref}" in err, err

        assert tunelab(store, "report", ref, "--out", str(tmp_path / "r")) == 2
        assert f"refusing to load {ref}" in capsys.readouterr().err

        server, _ = serve(store, ref)
        assert server.wait(timeout=120) == 2  # refused before any server starts
        assert f"refusing to load {ref}" in (server.stderr.read().decode() if server.stderr else "")

        if tamper is not _delete_digest:  # the run's digest is what `promote` checks
            sweep = client.get_run(run_id).data.tags["tunelab.sweep"]
            before = len(client.search_model_versions(f"name = '{name}'"))
            assert tunelab(store, "promote", sweep, "--model-name", name) == 2
            assert "refusing to load runs:/" in capsys.readouterr().err
            assert len(client.search_model_versions(f"name = '{name}'")) == before
    finally:
        shutil.rmtree(model)
        shutil.copytree(kept, model)
        client.set_model_version_tag(name, version, TAG_MODEL_SHA256, digest)
    assert tunelab(store, "predict", ref, str(x)) == 0


def test_a_checkpoint_that_would_run_code_is_refused_by_the_loader(tmp_path: Path) -> None:
    import torch

    from tunelab.errors import UnsafeModelError
    from tunelab.training import load_checkpoint

    checkpoint = tmp_path / "checkpoint.pt"
    torch.save({"format_version": 1, "payload": Exploit()}, checkpoint)
    with pytest.raises(UnsafeModelError, match="objects other than tensors and plain data"):
        load_checkpoint(checkpoint)


class Exploit:
    """Unpickling this would run a command: what weights_only loading must never do."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, ("echo pwned > /tmp/tunelab-pwned",))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("promote", "no-such-sweep", "--model-name", "x"), "no sweep named 'no-such-sweep'"),
        (("promote", "weak", "--model-name", "x", "--margin", "-1"), "--margin must be >= 0"),
        (("promote", "weak", "--model-name", "x", "--margin", "nan"), "--margin must be >= 0"),
        (("models", "no-such-model"), "no registered model 'no-such-model'"),
        (("rollback", "no-such-model"), "no registered model 'no-such-model'"),
        (("reproduce", "0" * 32), "no run 00000000000000000000000000000000"),
        (("predict", "models:/no-such-model@champion", "x.npy"), "x.npy: cannot read examples"),
    ],
)
def test_bad_registry_commands_are_one_line_and_exit_2(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    assert tunelab(store, *args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_a_reason_too_long_for_the_history_is_refused_before_anything_moves(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    long = "x" * 6000
    args = ("promote", "weak", "--model-name", "long-reason", "--force", "--reason", long)
    assert tunelab(store, *args) == 2
    assert tunelab(store, "rollback", "long-reason", "--reason", long) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert (
        errors
        == [
            "tunelab: error: --reason is 6000 characters; the registry's history keeps at most 1000"
        ]
        * 2
    )
    assert store["client"].search_registered_models("name = 'long-reason'") == []


def test_rollback_needs_a_previous_champion(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert tunelab(store, "promote", "strong", "--model-name", "only-one") == 0
    capsys.readouterr()
    assert tunelab(store, "rollback", "only-one") == 2
    assert "is the first champion: there is none to roll back to" in capsys.readouterr().err
    assert champion(store, "only-one") == "1"
