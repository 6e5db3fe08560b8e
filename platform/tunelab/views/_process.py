"""The sweep's views drawn in a process of their own, so that drawing them is not a cost the
sweep's end waits on. The process runs at the lowest CPU priority (it takes only what the trials
leave idle) and readies plotly, matplotlib and the importance evaluator while the trials run
(2-3 s of CPU on a cold start); when the last trial has ended the driver hands it the study, and
it draws while the driver records the last trials' results: on another core, holding none of
the driver's GIL. It starts with the sweep's first result, not before: started with the sweep,
even at the lowest priority, it delayed the first result by 1.5 s on 2 cores
(benchmarks/README.md).

Nothing depends on it: where it is not ready, failed or took too long, the driver draws the
views itself, as it would without it. A driver that dies takes it along (it reads the job from
its stdin, which then ends)."""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tunelab import env

WAIT_S = 60.0  # the longest the driver waits for the views, before it draws them itself


class ViewsProcess:
    """The process, from the driver's side: `draw` hands it the study, `drawn` waits for the
    views and copies them into a folder (False where the driver must draw them itself)."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.started = False

    def start(self) -> None:
        """Start the process (once): it warms up at the lowest priority until it is handed a
        study."""
        if self.started:
            return
        self.started = True
        package_root = str(Path(__file__).resolve().parents[2])  # where tunelab is importable
        paths = [package_root, *(env.PYTHONPATH.get() or "").split(os.pathsep)]
        with contextlib.suppress(OSError):
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tunelab.views._process"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env.environment_with(
                    {env.PYTHONPATH.name: os.pathsep.join(dict.fromkeys(p for p in paths if p))}
                ),
            )

    def draw(self, study_name: str, storage: Any, target_name: str) -> None:
        """Hand the process the finished study (its name and Optuna storage) to draw."""
        self.start()
        if self.process is None or self.process.stdin is None:
            return
        self.folder = Path(tempfile.mkdtemp(prefix="tunelab-views-"))
        try:
            job = pickle.dumps((study_name, storage, str(self.folder), target_name))
            self.process.stdin.write(job)
            self.process.stdin.close()
        except (OSError, pickle.PicklingError, TypeError, AttributeError):
            self.close()

    def drawn(self, into: Path, timeout_s: float = WAIT_S) -> bool:
        """Wait for the views and copy them `into` the folder; False where the process did not
        draw them (then nothing is copied)."""
        if self.process is None or self.folder is None:
            return False
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.close()
            return False
        if code != 0:
            self.close()
            return False
        for drawn in self.folder.iterdir():
            shutil.copy2(drawn, into / drawn.name)
        return True

    def close(self) -> None:
        """Stop the process if it still runs, and remove what it drew."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            if self.process.stdin is not None:
                with contextlib.suppress(OSError):
                    self.process.stdin.close()
            self.process = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def main() -> int:
    """The process itself: warm up, then draw the study it is handed (none: it exits)."""
    import select

    with contextlib.suppress(OSError):
        os.nice(19)
    _import_libraries()
    ready, _, _ = select.select([sys.stdin], [], [], 0)
    if not ready:  # no study yet: the first drawing's set-up too, on a throwaway study
        from tunelab.views._plots import prewarm_views

        prewarm_views()
    job = sys.stdin.buffer.read()
    if not job:
        return 0  # the sweep ended without views, or its driver died
    import optuna

    from tunelab.views._plots import draw_views_into

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study_name, storage, folder, target_name = pickle.loads(job)  # from our own driver
    study = optuna.load_study(study_name=study_name, storage=storage)
    draw_views_into(Path(folder), study, target_name=target_name)
    return 0


def _import_libraries() -> None:
    """What drawing the views imports: most of a cold drawing's cost."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot
    import optuna.visualization
    import optuna.visualization.matplotlib  # noqa: F401

    with contextlib.suppress(ImportError):
        import sklearn.ensemble  # noqa: F401  (Optuna's fANOVA importances: a random forest)


if __name__ == "__main__":
    sys.exit(main())
