"""`tunelab ui` and `tunelab server`: MLflow's UI on a store, and the tracking server on
PostgreSQL. Each replaces this process with the `mlflow` command."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from tunelab import env
from tunelab.cli._common import shared
from tunelab.errors import TunelabError


def add_commands(commands: Any) -> None:
    ui = commands.add_parser(
        "ui",
        parents=[shared("--tracking-uri")],
        help="start the MLflow UI on the same tracking store",
    )
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)
    ui.set_defaults(run=run_ui)

    server = commands.add_parser(
        "server", help="start the tracking server on PostgreSQL (the set-up a cluster uses)"
    )
    server.add_argument(
        "--host", help="address to listen on (default: $TUNELAB_SERVER_HOST or 127.0.0.1)"
    )
    server.add_argument("--port", type=int, help="default: $TUNELAB_SERVER_PORT or 5000")
    server.add_argument(
        "--database-uri",
        help="postgresql://USER:PASSWORD@HOST:PORT/DB (default: $TUNELAB_DATABASE_URI)",
    )
    server.add_argument(
        "--artifacts-destination",
        help="folder or s3:// URI for artifacts (default: $TUNELAB_ARTIFACTS_DESTINATION or ./tunelab_artifacts)",
    )
    server.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    server.add_argument(
        "--admin-password-file",
        type=Path,
        help="turns authentication on: the file holding the password of the admin user, which "
        "is created on the first start (default: $TUNELAB_ADMIN_PASSWORD; none: no "
        "authentication, allowed on a loopback address only)",
    )
    server.add_argument(
        "--admin-username", default="admin", help="the admin user created on the first start"
    )
    server.add_argument(
        "--user-from",
        type=Path,
        action="append",
        default=[],
        metavar="FOLDER",
        help="a user to have on the server: FOLDER holds the files `username` and `password` "
        "(a mounted Kubernetes Secret); created at start, or given that password (repeatable)",
    )
    server.add_argument(
        "--study-role-from",
        type=Path,
        metavar="FOLDER",
        help="the PostgreSQL role sweeps keep their Optuna studies as: FOLDER holds `username` "
        "and `password`; created at start (or given that password), owning the studies' schema "
        "and nothing else, so a sweep's driver need not hold the database owner's password",
    )
    server.add_argument(
        "--insecure",
        action="store_true",
        help="listen on a non-loopback address without authentication (anyone who reaches the "
        "port can read and change every run, model and registry alias)",
    )
    server.add_argument(
        "--allowed-hosts",
        help="comma-separated names clients reach the server by, e.g. tracking.example.com: "
        "each is answered on any port unless one is given (NAME:PORT), and loopback always; "
        "$TUNELAB_ALLOWED_HOSTS adds more (default: MLflow's, localhost and private addresses)",
    )
    server.add_argument(
        "--cors-allowed-origins", help="comma-separated origins allowed to call the API"
    )
    server.add_argument(
        "--expose-prometheus",
        action="store_true",
        help="serve request metrics for Prometheus on /metrics (with authentication, Prometheus "
        "scrapes as an admin user: MLflow serves /metrics to admins only; see dashboards/)",
    )
    server.set_defaults(run=run_server)


def run_ui(args: argparse.Namespace) -> int:
    from tunelab import tracking

    uri = args.tracking_uri or env.MLFLOW_TRACKING_URI.get() or tracking.default_tracking_uri()
    command = tracking.ui_command(uri, args.host, args.port)
    page = tracking.experiments_page(f"http://{args.host}:{args.port}")
    print(f"MLflow UI for {uri}: {page}", file=sys.stderr)
    os.execv(sys.executable, command)
    return 0  # not reached


def run_server(args: argparse.Namespace) -> int:
    from tunelab import tracking
    from tunelab.search import STUDY_SCHEMA

    database_uri = args.database_uri or env.TUNELAB_DATABASE_URI.get()
    if not database_uri:
        raise TunelabError("--database-uri (or $TUNELAB_DATABASE_URI) is required")
    config = tracking.ServerConfig(
        database_uri=database_uri,
        artifacts_destination=args.artifacts_destination
        or env.TUNELAB_ARTIFACTS_DESTINATION.get()
        or tracking.DEFAULT_ARTIFACTS,
        host=args.host or env.TUNELAB_SERVER_HOST.get() or tracking.DEFAULT_HOST,
        port=args.port or env.TUNELAB_SERVER_PORT.get() or tracking.DEFAULT_PORT,
        workers=args.workers,
        admin_password=_admin_password(args.admin_password_file),
        admin_username=args.admin_username,
        insecure=args.insecure,
        allowed_hosts=_names(args.allowed_hosts) + _names(env.TUNELAB_ALLOWED_HOSTS.get()),
        cors_allowed_origins=_names(args.cors_allowed_origins),
    )
    config.check()
    if args.expose_prometheus:  # the workers' metric files: a folder of this start's, empty
        config = replace(config, metrics_dir=tempfile.mkdtemp(prefix="tunelab-server-metrics-"))
    users = [_credentials(folder, "--user-from") for folder in args.user_from]
    study_role = (
        None
        if args.study_role_from is None
        else _credentials(args.study_role_from, "--study-role-from")
    )
    if users and config.admin_password is None:
        raise TunelabError("--user-from needs authentication: give --admin-password-file")
    # The sweeps' studies and the server's users live in the same database, in their own schemas.
    tracking.check_database(config.database_uri, schemas=[STUDY_SCHEMA, tracking.AUTH_SCHEMA])
    tracking.prepare_database(config, users, study_role, STUDY_SCHEMA)
    auth_config = None
    if config.admin_password is not None:
        # MLflow reads its auth settings from a file; this one holds no secret.
        auth_config = Path(tempfile.mkdtemp(prefix="tunelab-server-")) / "basic_auth.ini"
        auth_config.write_text(config.auth_config_text())
    access = (
        f"users of {config.admin_username!r} and the users they add"
        if config.admin_password is not None
        else "NO AUTHENTICATION: anyone who reaches the port"
        if config.insecure
        else "no authentication (this machine only)"
    )
    print(
        f"tracking server on http://{config.host}:{config.port} for "
        f"{tracking.redact(database_uri)}, artifacts in {config.artifacts_destination}; "
        f"access: {access}",
        file=sys.stderr,
    )
    command = config.command()
    os.execve(command[0], command, env.environment_with(config.environment(auth_config)))
    return 0  # not reached


def _admin_password(path: Path | None) -> str | None:
    if path is None:
        return env.TUNELAB_ADMIN_PASSWORD.get()
    try:
        return path.read_text().rstrip("\r\n")
    except OSError as exc:
        raise TunelabError(f"cannot read the admin password file {path}: {exc.strerror}") from None


def _credentials(folder: Path, flag: str) -> tuple[str, str]:
    """The `username` and `password` files of a folder (a mounted Kubernetes Secret)."""
    try:
        name, password = ((folder / key).read_text().strip() for key in ("username", "password"))
    except OSError as exc:
        raise TunelabError(f"{flag} {folder}: cannot read {exc.filename}: {exc.strerror}") from None
    if not name or not password:
        raise TunelabError(f"{flag} {folder}: the username or the password is empty")
    return name, password


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(name.strip() for name in (text or "").split(",") if name.strip())
