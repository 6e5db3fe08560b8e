"""`tunelab ui` and `tunelab server`: MLflow's UI on a store, and the tracking server on
PostgreSQL. Each replaces this process with the `mlflow` command."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from tunelab import env
from tunelab.errors import TunelabError


def add_commands(commands: Any) -> None:
    ui = commands.add_parser("ui", help="start the MLflow UI on the same tracking store")
    ui.add_argument(
        "--tracking-uri", help="default: $MLFLOW_TRACKING_URI, else MLflow's default here"
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
    server.set_defaults(run=run_server)


def run_ui(args: argparse.Namespace) -> int:
    from tunelab import tracking

    uri = args.tracking_uri or env.MLFLOW_TRACKING_URI.get() or tracking.default_tracking_uri()
    command = tracking.ui_command(uri, args.host, args.port)
    print(f"MLflow UI on http://{args.host}:{args.port} for {uri}", file=sys.stderr)
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
    )
    # The sweeps' studies live in the same database, in a schema of their own.
    tracking.check_database(config.database_uri, schema=STUDY_SCHEMA)
    print(
        f"tracking server on http://{config.host}:{config.port} for {tracking.redact(database_uri)}, "
        f"artifacts in {config.artifacts_destination}",
        file=sys.stderr,
    )
    command = config.command()
    os.execv(command[0], command)
    return 0  # not reached
