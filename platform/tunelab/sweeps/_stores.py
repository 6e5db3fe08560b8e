"""Where a sweep runs and what it records to: the Ray cluster, the MLflow tracking store, the
results folder, the study's database and the metrics port. Each is given (a flag, a keyword of
`tunelab.sweep`) or else read from the environment, once, at the command's start; the sweep,
its resume, its extension and its check then pass the one value along."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunelab import env

DEFAULT_RESULTS_DIR = "tunelab_results"
SPOOL_FILE = "tracking_spool.jsonl"  # in a sweep's folder: its writes kept for a store away


@dataclass(frozen=True)
class Stores:
    results_root: Path  # checkpoints and (but in server mode) the Optuna study: root / sweep
    address: str | None = None  # the Ray cluster to join; None: Ray in this process
    tracking_uri: str | None = None  # None: MLflow's default store
    database_uri: str | None = None  # server mode: the study's database
    metrics_port: int | None = None  # with Ray in this process: where it serves its metrics

    @classmethod
    def resolve(
        cls,
        *,
        address: str | None = None,
        tracking_uri: str | None = None,
        results_dir: str | Path | None = None,
        database_uri: str | None = None,
        metrics_port: int | None = None,
    ) -> Stores:
        """The stores as given, each falling back to its environment variable ($RAY_ADDRESS,
        $MLFLOW_TRACKING_URI, $TUNELAB_RESULTS_DIR, $TUNELAB_DATABASE_URI,
        $TUNELAB_METRICS_PORT)."""
        return cls(
            results_root=results_root(results_dir),
            address=address or env.RAY_ADDRESS.get(),
            tracking_uri=tracking_uri or env.MLFLOW_TRACKING_URI.get(),
            database_uri=database_uri or env.TUNELAB_DATABASE_URI.get(),
            metrics_port=metrics_port or env.TUNELAB_METRICS_PORT.get(),
        )

    def folder(self, sweep: str) -> Path:
        """A sweep's own results folder."""
        return self.results_root / sweep

    def send_kept_writes(self, sweep: str) -> int:
        """Send what a stopped driver of `sweep` kept on disk for the tracking store (it was
        away when the driver stopped), before anything reads the sweep's runs; how many."""
        from tunelab import tracking

        return tracking.replay_kept(self.folder(sweep) / SPOOL_FILE, self.tracking_uri)


def results_root(explicit: str | Path | None = None) -> Path:
    return Path(explicit or env.TUNELAB_RESULTS_DIR.get() or DEFAULT_RESULTS_DIR).resolve()
