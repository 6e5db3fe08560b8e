"""The link tunelab prints to a sweep, and the view it opens with in MLflow's UI."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, unquote, urlsplit

from tunelab.tracking import sweep_page
from tunelab.tracking._ui import view_key, view_state


def query_of(link: str) -> dict[str, str]:
    fragment = urlsplit(link).fragment  # MLflow's UI routes in the fragment
    path, _, query = fragment.partition("?")
    assert path == "/experiments/7/runs"
    return {k: v[0] for k, v in parse_qs(query).items()}


def test_a_saved_view_is_opened_by_its_key_alone() -> None:
    """MLflow ignores a saved view when the link carries a filter or an order as well."""
    link = sweep_page("http://tracking:5000/", "7", "my sweep", "val_loss", "min", view="k1")
    assert link.startswith("http://tracking:5000/#/experiments/7/runs?")
    assert query_of(link) == {"workflowType": "machine_learning", "viewStateShareKey": "k1"}


def test_without_a_view_the_link_filters_and_orders_the_runs_itself() -> None:
    link = sweep_page("http://127.0.0.1:5000", "7", "it's", "val_loss", "min")
    assert query_of(link) == {
        "workflowType": "machine_learning",
        "searchFilter": "tags.`tunelab.sweep` = 'it's'",
        "orderByKey": "metrics.`val_loss`",
        "orderByAsc": "true",
    }
    assert " " not in link and "`" not in unquote(link.split("?")[0])


def test_the_view_shows_the_sweeps_runs_best_first_with_its_metrics_and_hyperparameters() -> None:
    state = json.loads(
        view_state("s", "val_accuracy", "max", ["val_accuracy", "params_m"], ["lr", "depth"])
    )
    assert state == {
        "searchFilter": "tags.`tunelab.sweep` = 's'",
        "orderByKey": "metrics.`val_accuracy`",
        "orderByAsc": False,
        "selectedColumns": [
            "metrics.`val_accuracy`",
            "metrics.`params_m`",
            "params.`lr`",
            "params.`depth`",
        ],
    }


def test_each_sweep_has_its_own_view_key_made_of_tag_key_characters() -> None:
    keys = {view_key(name) for name in ("a", "b", "cnn-digits-20261130-024452", "a b/c")}
    assert len(keys) == 4
    assert all(key.replace("-", "").isalnum() for key in keys)
    assert view_key("a") == view_key("a")
