"""Server mode: one MLflow tracking server on PostgreSQL that a cluster's drivers and every
laptop talk HTTP to, with artifacts proxied through it (`--serve-artifacts`), so no client needs
credentials for the artifact store; and MLflow's UI on a local store. Both are started as
`mlflow` commands."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tunelab.errors import DatabaseError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
DEFAULT_ARTIFACTS = "tunelab_artifacts"


@dataclass(frozen=True)
class ServerConfig:
    database_uri: str
    artifacts_destination: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 2

    def command(self) -> list[str]:
        """The `mlflow server` command line this configuration runs."""
        destination = self.artifacts_destination
        if "://" not in destination:
            destination = str(Path(destination).resolve())
        return [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", self.database_uri,
            "--serve-artifacts",
            "--artifacts-destination", destination,
            "--host", self.host,
            "--port", str(self.port),
            "--workers", str(self.workers),
        ]  # fmt: skip


def redact(uri: str) -> str:
    """The URI with its password replaced, for messages."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def check_database(uri: str, *, schema: str | None = None) -> None:
    """Connect once, so a wrong URI is one clear line instead of a server that fails later; and
    create `schema` if it is missing."""
    if not uri.startswith(("postgresql://", "postgresql+psycopg2://")):
        raise DatabaseError(
            f"the database URI must be postgresql://USER:PASSWORD@HOST:PORT/DB, got {redact(uri)}"
        )
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(uri, connect_args={"connect_timeout": 5})
        with engine.connect() as connection:
            if schema is not None:
                connection.execute(sqlalchemy.text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
                connection.commit()
        engine.dispose()
    except sqlalchemy.exc.SQLAlchemyError as exc:
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseError(f"cannot use the database {redact(uri)}: {cause}") from None


def ui_command(tracking_uri: str, host: str, port: int) -> list[str]:
    """The `mlflow ui` command line on a tracking store."""
    return [
        sys.executable, "-m", "mlflow", "ui",
        "--backend-store-uri", tracking_uri,
        "--host", host,
        "--port", str(port),
    ]  # fmt: skip


def default_tracking_uri() -> str:
    """The store MLflow uses when none is named: its default in the working folder."""
    import mlflow

    return mlflow.get_tracking_uri()
