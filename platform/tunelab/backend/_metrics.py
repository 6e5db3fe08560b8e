"""The sweep's own metrics, published through Ray's metrics API: Ray exports them for Prometheus
with its own, from the node the driver runs on, named `ray_` + the name here (a counter gets
`_total`). Every series carries the sweep's name as `sweep`; `dashboards/` reads them.

Counts that a dashboard shows as a level (trials in each state, retries, budget spent) are
gauges holding the sweep's totals, set for every state from the start, so a state with no trial
yet reads 0 rather than nothing. Events that a dashboard shows as a rate (results, epochs) are
counters; trial durations are a histogram."""

from __future__ import annotations

from collections.abc import Mapping

import ray
from ray.util.metrics import Counter, Gauge, Histogram

# A trial's duration, seconds: from a smoke test's seconds to a day-long run.
DURATION_BUCKETS: list[float] = [
    1,
    5,
    15,
    30,
    60,
    120,
    300,
    600,
    1800,
    3600,
    7200,
    14400,
    43200,
    86400,
]

# Each metric's name (as Ray exports it) and what it holds, for dashboards/ and its tests.
METRICS = {
    "ray_tunelab_trials": "trials in each state (running, completed, stopped_early, ...)",
    "ray_tunelab_trial_retries": "restarts of trials whose worker or node died",
    "ray_tunelab_results_total": "results reported (one per trial per epoch, repeats included)",
    "ray_tunelab_epochs_total": "epochs trained and recorded (a retried trial's repeats not)",
    "ray_tunelab_best": "the best value of the sweep's metric so far",
    "ray_tunelab_budget_spent": "budget used so far, by resource",
    "ray_tunelab_budget_cap": "the spec's cap, by resource (only the caps it sets)",
    "ray_tunelab_trial_seconds": "how long each ended trial ran, by outcome (histogram)",
    "ray_tunelab_tracking_queue": "writes waiting for the tracking store",
    "ray_tunelab_tracking_spooled_points": "metric points kept on disk while the store is down",
}


class SweepMetrics:
    """The sweep's metrics, labelled with its name, recorded from the driver while Ray is up;
    once Ray has stopped (an interrupted sweep ending) they record nothing: Ray's core worker
    ends the process when called after its shutdown."""

    def __init__(self, sweep: str, metric: str) -> None:
        self.tags = {"sweep": sweep}
        self.metric = metric
        self._trials = Gauge(
            "tunelab_trials", "Trials of the sweep in each state.", tag_keys=("sweep", "state")
        )
        self._retries = Gauge(
            "tunelab_trial_retries",
            "Restarts of the sweep's trials after their worker or node died.",
            tag_keys=("sweep",),
        )
        self._results = Counter(
            "tunelab_results", "Results the sweep's trials reported.", tag_keys=("sweep",)
        )
        self._epochs = Counter(
            "tunelab_epochs", "Epochs the sweep's trials trained.", tag_keys=("sweep",)
        )
        self._best = Gauge(
            "tunelab_best",
            "The metric of the sweep's best trial so far (its last epoch's).",
            tag_keys=("sweep", "metric"),
        )
        self._spent = Gauge(
            "tunelab_budget_spent", "Budget used so far.", tag_keys=("sweep", "resource")
        )
        self._cap = Gauge("tunelab_budget_cap", "The sweep's cap.", tag_keys=("sweep", "resource"))
        self._seconds = Histogram(
            "tunelab_trial_seconds",
            "How long the sweep's ended trials ran.",
            boundaries=DURATION_BUCKETS,
            tag_keys=("sweep", "outcome"),
        )
        self._queue = Gauge(
            "tunelab_tracking_queue",
            "Writes waiting for the tracking store.",
            tag_keys=("sweep",),
        )
        self._spooled = Gauge(
            "tunelab_tracking_spooled_points",
            "Metric points kept on disk while the tracking store is unreachable.",
            tag_keys=("sweep",),
        )

    def result(self, *, new_epoch: bool) -> None:
        if not ray.is_initialized():
            return
        self._results.inc(1, self.tags)
        if new_epoch:
            self._epochs.inc(1, self.tags)

    def best(self, value: float) -> None:
        if not ray.is_initialized():
            return
        self._best.set(value, {**self.tags, "metric": self.metric})

    def trial_ended(self, outcome: str, seconds: float) -> None:
        if not ray.is_initialized():
            return
        self._seconds.observe(seconds, {**self.tags, "outcome": outcome})

    def levels(
        self,
        *,
        trials: Mapping[str, int],
        retries: int,
        spent: Mapping[str, float],
        caps: Mapping[str, float],
        queued: int,
        spooled_points: int,
    ) -> None:
        """The sweep's totals as they are now."""
        if not ray.is_initialized():
            return
        for state, count in trials.items():
            self._trials.set(count, {**self.tags, "state": state})
        self._retries.set(retries, self.tags)
        for resource, value in spent.items():
            self._spent.set(value, {**self.tags, "resource": resource})
        for resource, value in caps.items():
            self._cap.set(value, {**self.tags, "resource": resource})
        self._queue.set(queued, self.tags)
        self._spooled.set(spooled_points, self.tags)
