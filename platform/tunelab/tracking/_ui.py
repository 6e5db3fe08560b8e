"""MLflow's UI on a sweep: the page tunelab links to, and the view it opens with. The view is
saved on the experiment as MLflow's own "shared view" (the tag `mlflow.sharedViewState.KEY`,
what the UI's Share button writes, read back when a link names `viewStateShareKey=KEY`): the
sweep's runs only, best first by its metric, its metrics and sampled hyperparameters as
columns. Where it could not be saved (a user who may not edit the experiment), the link carries
the filter and the order itself, and the columns are MLflow's defaults."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from tunelab.tracking.tags import SHARED_VIEW_PREFIX, TAG_SWEEP

if TYPE_CHECKING:
    from mlflow import MlflowClient


def view_key(sweep: str) -> str:
    """The sweep's view's key: a tag key's characters only, the same on every save."""
    return "tunelab-" + hashlib.sha256(sweep.encode()).hexdigest()[:16]


def _facets(sweep: str, metric: str, mode: str) -> dict[str, str]:
    return {
        "searchFilter": f"tags.`{TAG_SWEEP}` = '{sweep}'",
        "orderByKey": f"metrics.`{metric}`",
        "orderByAsc": "true" if mode == "min" else "false",
    }


def view_state(
    sweep: str, metric: str, mode: str, metrics: Sequence[str], params: Sequence[str]
) -> str:
    """The view as MLflow's UI reads it: search facets and the runs table's columns."""
    facets = _facets(sweep, metric, mode)
    columns = [f"metrics.`{m}`" for m in dict.fromkeys([metric, *metrics])]
    columns += [f"params.`{p}`" for p in params]
    return json.dumps(
        {
            "searchFilter": facets["searchFilter"],
            "orderByKey": facets["orderByKey"],
            "orderByAsc": mode == "min",
            "selectedColumns": columns,
        }
    )


class ViewSaver:
    """Saves the sweep's view on its experiment, through the tracking writer (`writer.call`);
    `saved` says whether it was. Failing to save it fails nothing: the link carries what it can."""

    def __init__(
        self,
        experiment_id: str,
        sweep: str,
        *,
        metric: str,
        mode: str,
        metrics: Sequence[str],
        params: Sequence[str],
    ) -> None:
        self.experiment_id = experiment_id
        self.key = view_key(sweep)
        self.state = view_state(sweep, metric, mode, metrics, params)
        self.saved = False

    def __call__(self, client: MlflowClient, run_ids: Mapping[str, str]) -> None:
        with contextlib.suppress(Exception):
            key = SHARED_VIEW_PREFIX + self.key
            client.set_experiment_tag(self.experiment_id, key, self.state)
            self.saved = True


def experiments_page(base_url: str) -> str:
    """MLflow's UI on its experiments, in the "Model training" view (its home page opens in the
    GenAI one)."""
    return f"{base_url.rstrip('/')}/#/experiments?workflowType=machine_learning"


def sweep_page(
    base_url: str,
    experiment_id: str,
    sweep: str,
    metric: str,
    mode: str,
    view: str | None = None,
) -> str:
    """MLflow's UI on a sweep, in its "Model training" view: the sweep's saved `view` (its key),
    or without one the experiment's runs filtered to the sweep, best first by its metric."""
    query = {"workflowType": "machine_learning"}
    if view is not None:  # the UI ignores a saved view when the link carries facets itself
        query["viewStateShareKey"] = view
    else:
        query |= _facets(sweep, metric, mode)
    encoded = urlencode(query, quote_via=quote)
    return f"{base_url.rstrip('/')}/#/experiments/{experiment_id}/runs?{encoded}"
