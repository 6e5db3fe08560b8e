"""Server mode: one MLflow tracking server on PostgreSQL that a cluster's drivers and every
laptop talk HTTP to, with artifacts proxied through it (`--serve-artifacts`), so no client needs
credentials for the artifact store. The sweeps' Optuna studies live in the same database, in a
schema of their own (Optuna and MLflow each keep an `alembic_version` table)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tunelab.errors import TunelabError

STUDY_SCHEMA = "optuna"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
DEFAULT_ARTIFACTS = "tunelab_artifacts"


class DatabaseError(TunelabError):
    """The database cannot be reached or used."""


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


def check_database(uri: str) -> None:
    """Connect once, so a wrong URI is one clear line instead of a server that fails later."""
    if not uri.startswith(("postgresql://", "postgresql+psycopg2://")):
        raise DatabaseError(
            f"the database URI must be postgresql://USER:PASSWORD@HOST:PORT/DB, got {redact(uri)}"
        )
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(uri, connect_args={"connect_timeout": 5})
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f"CREATE SCHEMA IF NOT EXISTS {STUDY_SCHEMA}"))
            connection.commit()
        engine.dispose()
    except sqlalchemy.exc.SQLAlchemyError as exc:
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseError(f"cannot use the database {redact(uri)}: {cause}") from None


def study_storage_uri(database_uri: str) -> str:
    """The same database, with Optuna's tables in their own schema."""
    parts = urlsplit(database_uri)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={STUDY_SCHEMA}"))
    return urlunsplit(parts._replace(query=urlencode(query)))


def study_storage(database_uri: str) -> Any:
    """Optuna's storage in server mode (the schema is created if missing)."""
    import optuna

    check_database(database_uri)
    return optuna.storages.RDBStorage(
        study_storage_uri(database_uri), engine_kwargs={"pool_pre_ping": True}
    )
