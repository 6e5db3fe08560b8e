"""The writer's store: the client on a tracking URI, with the sweep's experiment found or
created, and a sweep's run looked up by name (before creating it again)."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from tunelab.tracking._ops import CreateRun
from tunelab.tracking._sqlite import creating, sqlite_path
from tunelab.tracking.tags import EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND, TAG_SWEEP

if TYPE_CHECKING:
    from mlflow import MlflowClient

STORE_CREATION_TRIES = 3  # a new SQLite store another program is creating at the same time


def connect(tracking_uri: str | None, experiment: str) -> tuple[MlflowClient, str]:
    """The client and the experiment's id (a new SQLite store is created by one process at a
    time)."""
    from mlflow import MlflowClient

    tries = 1
    while True:
        try:
            with creating(tracking_uri):
                client = MlflowClient(tracking_uri)
                tracking_uri = client.tracking_uri  # MLflow's default, resolved
                return client, experiment_id(client, experiment)
        except Exception:
            # Another program (an `mlflow ui`, a script) creating the same new SQLite file
            # does not take our lock: once it is done, the store opens.
            if tries == STORE_CREATION_TRIES or sqlite_path(tracking_uri) is None:
                raise
            tries += 1
            time.sleep(1.0)


def experiment_id(client: MlflowClient, name: str) -> str:
    """The experiment's id, created if new. It is marked a model-training experiment, so
    MLflow's UI opens it on its runs (not on the GenAI overview), unless marked otherwise."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        if EXPERIMENT_KIND_TAG not in found.tags:
            with contextlib.suppress(Exception):  # e.g. a user who may not edit it
                client.set_experiment_tag(
                    found.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND
                )
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name, tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND}))
    except Exception:
        found = client.get_experiment_by_name(name)  # created concurrently
        if found is None:
            raise
        return str(found.experiment_id)


def find_run(client: MlflowClient, experiment: str | None, op: CreateRun) -> Any:
    """The sweep's run of this name, if there is one."""
    sweep = op.tags.get(TAG_SWEEP)
    if not sweep:
        return None
    found = client.search_runs(
        [experiment or "0"],
        f"tags.`{TAG_SWEEP}` = '{sweep}' and attributes.run_name = '{op.name}'",
        max_results=1,
    )
    return found[0] if found else None
