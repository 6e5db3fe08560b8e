"""Every name tunelab records on a run, a registered model or version, or an Optuna study. Code
elsewhere uses these constants, never the strings, so a rename is one line here."""

from __future__ import annotations

PREFIX = "tunelab."
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own: nests a child run under its parent

# -- artifacts ----------------------------------------------------------------------------------
SPEC_ARTIFACT = "spec.yaml"  # on the parent run: the sweep as run
SUMMARY_ARTIFACT = "sweep_summary.json"  # on the parent run, rewritten after every trial
BEST_CONFIG_ARTIFACT = "best_config.json"  # on the parent run
VIEWS_ARTIFACT = "views"  # the folder of the sweep's views on its parent run
MODEL_ARTIFACT = "model"  # a trial's MLflow model, on its run
REPORT_ARTIFACT = "report"  # the folder of an interpretability report, on the explained run
COMPARISON_ARTIFACT = "report_comparison"  # on a sweep's parent run: its top K reports compared

# -- runs ---------------------------------------------------------------------------------------
TAG_ROLE = "tunelab.role"  # ROLE_SWEEP on the parent, ROLE_TRIAL on each child
ROLE_SWEEP, ROLE_TRIAL = "sweep", "trial"
TAG_SWEEP = "tunelab.sweep"  # the sweep's name: on its runs, and on a version registered from it
TAG_TRIAL_ID = "tunelab.trial_id"  # Ray's trial id
TAG_NODE = "tunelab.node"  # Ray node id
TAG_NODE_IP = "tunelab.node_ip"
# A data-parallel trial (spec `resources.workers`): its workers, and the IPs of their nodes.
TAG_WORKERS = "tunelab.workers"
TAG_WORKER_NODES = "tunelab.worker_nodes"  # comma-separated, one per worker, by rank
TAG_MODEL = "tunelab.model"
TAG_DATASET = "tunelab.dataset"
# On a sweep's parent: SHA-256 of the data it ran on (DataSplits.digest); a sweep read back
# (report, promote, resume, --extend) refuses other data.
TAG_DATA_SHA256 = "tunelab.data_sha256"
TAG_OUTCOME = "tunelab.outcome"  # completed, stopped_early, stopped_by_budget, failed, killed
TAG_ERROR = "tunelab.error"  # a failed trial's error, one line
TAG_STOPPED_EARLY = "tunelab.stopped_early"
# Under the spec's constraints, on a finished trial: "true" or "false"; and, when false, the
# metrics whose constraints its last values break (comma-separated).
TAG_FEASIBLE = "tunelab.feasible"
TAG_BROKEN = "tunelab.broken_constraints"
TAG_RETRIES = "tunelab.retries"  # times the trial was restarted after its worker or node died
TAG_RETRY_REASON = "tunelab.retry_reason"  # why it was last restarted (node_lost: ...)
TAG_RESUMED_AT_EPOCH = "tunelab.resumed_at_epoch"  # the first epoch it trained after a restart
TAG_FUSED_GROUP = "tunelab.fused_group"  # the fused group a trial trained in (spec `fusion`)
# Population based training: how many times a trial went on from another's checkpoint, and
# each time (tunelab.exploit.1, .2, ...), as JSON: {"epoch": its epoch then, "source": the other
# trial's name, "source_epoch": that checkpoint's epoch, "source_checkpoint": its folder in the
# source's, "config": what it trained with next}.
# The hyperparameters it trained each epoch with are metrics: hp/lr, hp/weight_decay, ...
TAG_EXPLOITS = "tunelab.exploits"
TAG_EXPLOIT = "tunelab.exploit"
# On a sweep's parent with `fusion: auto`: the group size it picked ("off": unfused), and the
# training examples per second it measured by size, as JSON ({"1": 69706, "2": 85183, ...}).
TAG_FUSION = "tunelab.fusion"
TAG_FUSION_MEASURED = "tunelab.fusion_measured"
TAG_PARETO = "tunelab.pareto_front"  # "true" on the runs of a multi-objective sweep's front
TAG_BEST_RUN_ID = "tunelab.best_run_id"
TAG_BEST_TRIAL = "tunelab.best_trial"
TAG_BEST_CONFIG = "tunelab.best_config"
TAG_BUDGET_REACHED = "tunelab.budget_reached"  # on the parent: the cap that ended the sweep
TAG_REPORT_SANITY = "tunelab.report.sanity"  # "passed" or "failed", set by `tunelab report`
TAG_HEARTBEAT = "tunelab.heartbeat"  # on a running sweep's parent: renewed, in seconds
TAG_HEARTBEAT_S = "tunelab.heartbeat_s"  # how often it is renewed
TAG_CLOSED = "tunelab.closed"  # on the runs of a sweep closed after its driver was lost: why

# On a trial's run when its model is logged, and on the version registered from it: SHA-256 over
# every file of the model folder (see tracking/_integrity.py).
TAG_MODEL_SHA256 = "tunelab.model_sha256"

# -- registered model versions: the facts of a promotion ------------------------------------------
TAG_TRIAL = "tunelab.trial"  # the trial's name (trial-003)
TAG_RUN_ID = "tunelab.run_id"
TAG_METRIC = "tunelab.metric"  # the sweep's metric; its value is under metric_tag(metric)
TAG_DATA_FINGERPRINT = "tunelab.data_fingerprint"
TAG_CODE_VERSION = "tunelab.code_version"
TAG_USER = "tunelab.user"
TAG_TIME = "tunelab.time"
TAG_DECISION = "tunelab.decision"  # promote, force or refuse
TAG_GATES = "tunelab.gates"
TAG_REASON = "tunelab.reason"
TAG_ROLLBACK = "tunelab.rollback"
# -- registered models: the append-only history, one tag per event --------------------------------
HISTORY_PREFIX = "tunelab.history."  # + the time in ns and a random suffix: sorts by time

# -- the experiment: MLflow 3's UI opens one of this kind in its "Model training" view ----------
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"
# + a key: a view of the experiment's runs saved as the UI's Share button saves one (a sweep's)
SHARED_VIEW_PREFIX = "mlflow.sharedViewState."

# -- the sweep's Optuna study ---------------------------------------------------------------------
ATTR_WARM_START_FROM = "tunelab.warm_start_from"  # a trial imported by a warm start: SWEEP#NUMBER


def metric_tag(metric: str) -> str:
    """The version tag holding a metric's value (tunelab.val_accuracy, tunelab.test_accuracy)."""
    return PREFIX + metric


def history_tag(time_ns: int, suffix: str) -> str:
    """A history entry's own tag: two promotions at once never write the same one."""
    return f"{HISTORY_PREFIX}{time_ns:020d}.{suffix}"
