"""Reports on models trained in the test: what each family's report finds, and its checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from tunelab.data import DataInfo, datasets
from tunelab.errors import ReportError
from tunelab.plugins import resolve_architecture
from tunelab.reports import (
    Material,
    Subject,
    _attribution,
    explain,
    families,
    family_of,
    material_from_state,
    safe_child,
    write_report,
)
from tunelab.sweeps import train_briefly


def default_methods(family: str) -> list[str]:
    return list(families.get(family).methods)


def trained(model: str, dataset: str, config: dict[str, Any], epochs: int) -> Material:
    torch.set_num_threads(1)
    data = datasets.get(dataset).load()
    return material_from_state(train_briefly(model, data, config, epochs)[-1][1], data, dataset)


@pytest.fixture(scope="module")
def cnn() -> Material:
    return trained("cnn", "digits", {}, 3)


def test_recurrent_layers_explained_in_training_mode_give_the_evaluation_outputs() -> None:
    info = datasets.get("adding").load(length=8, size=40).info
    arch = resolve_architecture("lstm")
    torch.manual_seed(0)
    model = arch.build({**arch.hyperparameters, "depth": 2, "dropout": 0.5}, info)
    x = torch.rand(16, 8, 2)
    model.eval()
    with torch.no_grad():
        expected = model(x)
    with _attribution.explaining(model):
        assert all(m.training for m in model.modules() if isinstance(m, torch.nn.LSTM))
        assert not model.dropout.training  # the head's dropout stays off
        with torch.no_grad():
            got = model(x)
    assert torch.equal(got, expected)
    assert model.rnn.dropout == 0.5 and not model.rnn.training  # restored


def test_attributions_are_the_same_whatever_the_chunk_size(
    cnn: Material, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = torch.as_tensor(cnn.data.val.x[:40])
    with _attribution.explaining(cnn.model) as model:
        target = model(x).argmax(1)
        ex = _attribution.Explainer(model, x, target, x.mean(0, keepdim=True), None)
        whole, whole_delta = _attribution.attribute("integrated_gradients", ex)
        monkeypatch.setattr(_attribution, "CHUNK", 7)
        monkeypatch.setattr(_attribution, "INTERNAL_BATCH", 50)
        chunked, chunked_delta = _attribution.attribute("integrated_gradients", ex)
    assert whole.shape == chunked.shape == x.shape
    assert whole_delta is not None and chunked_delta is not None and len(chunked_delta) == 40
    assert torch.allclose(whole, chunked, atol=1e-5)


def test_image_report_has_every_method_its_checks_and_per_class_maps(
    cnn: Material, tmp_path: Path
) -> None:
    result = explain(cnn, default_methods("images"), 64)
    faith = result.summary["faithfulness"]
    assert set(faith["methods"]) == {"integrated_gradients", "saliency", "occlusion", "grad_cam"}
    for method, numbers in faith["methods"].items():
        assert numbers["infidelity"] >= 0 and numbers["max_sensitivity"] >= 0, method
        assert -1 <= numbers["randomisation_rank_correlation"] <= 1
        assert numbers["sanity_passed"] == (numbers["randomisation_rank_correlation"] < 0.5)
    # Gradients of a trained CNN and of a random one have little in common.
    assert faith["methods"]["saliency"]["sanity_passed"]
    assert faith["integrated_gradients_completeness"]["relative_delta"] < 0.05
    assert result.sanity_passed == all(v["sanity_passed"] for v in faith["methods"].values())
    # A failed method is flagged, not hidden.
    failed = [m for m, v in faith["methods"].items() if not v["sanity_passed"]]
    assert len(result.flags) == len(failed)
    assert all(any(m in flag for flag in result.flags) for m in failed)

    images = result.summary["images"]
    assert set(images["per_class_maps"]["integrated_gradients"]) == {str(d) for d in range(10)}
    assert len(images["most_confident"]) == 4
    assert images["most_confident"][0]["confidence"] >= images["least_confident"][0]["confidence"]

    subject = Subject(
        run_id="0123456789abcdef0123456789abcdef", label="t", checkpoint=tmp_path, spec=None
    )  # type: ignore[arg-type]
    folder = write_report(tmp_path, subject, cnn, result, 64)
    assert folder == tmp_path / subject.run_id
    figures = {f.key for s in result.sections for f in s.figures}
    assert {p.stem for p in folder.glob("*.png")} == figures
    assert {"most_confident", "least_confident", "class_maps_grad_cam"} <= figures
    page = (folder / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(figures)
    assert "http" not in page.replace("http-equiv", "")  # nothing to fetch
    summary = json.loads((folder / "report.json").read_text())
    assert summary["run_id"] == subject.run_id and summary["examples"] == 64
    assert summary["faithfulness"]["methods"].keys() == faith["methods"].keys()


def test_randomisation_check_fails_a_method_when_the_weights_do_not_matter(cnn: Material) -> None:
    """With the 'random' model a copy of the trained one, every method must fail the check."""
    import copy

    same = Material(**{**cnn.__dict__, "rebuild": lambda: copy.deepcopy(cnn.model)})
    result = explain(same, ("saliency", "grad_cam"), 32)
    methods = result.summary["faithfulness"]["methods"]
    assert all(v["randomisation_rank_correlation"] > 0.99 for v in methods.values())
    assert not result.sanity_passed and len(result.flags) == 2


def test_tabular_report_ranks_features_and_agrees_with_permutation_importance() -> None:
    mlp = trained("mlp", "breast_cancer", {}, 5)
    result = explain(mlp, default_methods("tabular"), 256)
    tab = result.summary["tabular"]
    features = datasets.get("breast_cancer").load().feature_names
    assert sorted(tab["ranking"]) == sorted(features) and len(features) == 30
    for method in ("integrated_gradients", "feature_ablation"):
        agreement = tab["rank_agreement"][method]
        # What the attributions rank high is what shuffling hurts most.
        assert agreement["spearman_vs_permutation"] > 0.5, agreement
        assert -1 <= agreement["kendall_vs_permutation"] <= 1
    assert len(tab["permutation_importance"]["mean"]) == 30


def test_adding_problem_a_trained_lstm_attends_to_the_marked_steps_a_random_one_does_not(
    trained_adding,
) -> None:
    data, epochs = trained_adding
    solved = material_from_state(epochs[-1][1], data, "adding")
    share = explain(solved, default_methods("sequences"), 256).summary["sequences"]
    assert share["marked_share_method"] == "feature_ablation"
    assert share["marked_share"] >= 0.8, share["marked_share_by_method"]
    assert len(share["share_per_step"]["integrated_gradients"]) == 30

    random_lstm = Material(**{**solved.__dict__, "model": _fresh(solved)})
    unsolved = explain(random_lstm, default_methods("sequences"), 256).summary["sequences"]
    assert all(v < 0.8 for v in unsolved["marked_share_by_method"].values()), unsolved


def _fresh(m: Material) -> torch.nn.Module:
    torch.manual_seed(7)
    return m.rebuild().eval()


def test_gan_report_compares_real_and_generated_and_shows_each_epoch() -> None:
    gan = trained("gan", "digits", {"lr_g": 2e-3, "lr_d": 1e-3, "batch_size": 32}, 3)
    assert tuple(gan.state["samples_by_epoch"].shape) == (3, 16, 1, 8, 8)
    result = explain(gan, default_methods("gan"), 64)
    section = result.summary["gan"]
    assert section["sample_grids_epochs"] == [1, 2, 3]
    p = section["discriminator_p_real"]
    assert 0 <= p["generated"] <= 1 and 0 <= p["real"] <= 1
    keys = {f.key for s in result.sections for f in s.figures}
    assert {"samples_by_epoch", "real_and_generated"} <= keys
    assert set(result.summary["faithfulness"]["methods"]) == {"integrated_gradients", "saliency"}


def test_transfer_report_labels_frozen_and_fine_tuned_blocks() -> None:
    data = datasets.get("digits_5_9").load(labels_per_class=30)
    config = {"freeze": "partial", "trainable_layers": 2}
    state = train_briefly("transfer", data, config, 2)[-1][1]
    result = explain(material_from_state(state, data, "digits_5_9"), ("integrated_gradients",), 32)
    blocks = result.summary["transfer"]["blocks"]
    assert [b["frozen"] for b in blocks] == [True] * (len(blocks) - 2) + [False, False]
    # Conductance is complete: each block's units sum to about the same output change.
    totals = [b["mean_total_conductance"] for b in blocks]
    assert max(totals) - min(totals) < 0.1 * abs(totals[-1])


def test_an_unknown_family_and_bad_output_names_are_refused() -> None:
    assert family_of({"architecture": "mlp"}, DataInfo("classification", (1, 2, 3, 4), 2)) is None
    gan = family_of(
        {"architecture": "x", "trainer": "gan"}, DataInfo("classification", (1, 8, 8), 2)
    )
    assert gan is not None and gan.name == "gan"
    root = Path("/tmp/reports")
    for bad in ("../escape", "a/b", "..", "", "x" * 65, "name with spaces"):
        with pytest.raises(ReportError, match="refusing"):
            safe_child(root, bad)
    assert safe_child(root, "0123abc") == root / "0123abc"


def test_json_summary_writes_undefined_numbers_as_null(tmp_path: Path) -> None:
    from tunelab.reports._make import _write_json

    _write_json(tmp_path / "x.json", {"a": float("nan"), "b": [1.0, float("inf")]})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": None, "b": [1.0, None]}


def test_a_model_of_no_known_family_is_refused_by_name() -> None:
    from tunelab.data import DataInfo

    info = DataInfo(task="classification", input_shape=(2, 2, 2, 2), n_classes=3)
    arch = resolve_architecture("mlp")
    model = arch.build(arch.hyperparameters, info)
    state = {
        "architecture": "mlp",
        "trainer": "supervised",
        "model_hparams": dict(arch.hyperparameters),
        "data_info": info.as_dict(),
        "model_state": model.state_dict(),
    }
    data = datasets.get("digits").load()
    with pytest.raises(ValueError, match=r"no report for a model of family 'mlp' with 4-d inputs"):
        material_from_state(state, data, "digits")
