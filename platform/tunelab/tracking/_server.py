"""Server mode: one MLflow tracking server on PostgreSQL that a cluster's drivers and every
laptop talk HTTP to, with artifacts proxied through it (`--serve-artifacts`), so no client needs
credentials for the artifact store; and MLflow's UI on a local store. Both are started as
`mlflow` commands.

A server reachable from other machines runs MLflow's basic-auth app: every request names a user,
whose permissions MLflow checks (reading by default; a sweep's runs and models belong to whoever
created them). No secret is ever on a command line, where `ps` shows it: the database URI reaches
MLflow through its environment without its password, which libpq reads from `PGPASSWORD`; the
admin password reaches it as `MLFLOW_AUTH_ADMIN_PASSWORD`."""

from __future__ import annotations

import ipaddress
import re
import secrets
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from tunelab import env
from tunelab.errors import DatabaseError, TunelabError, first_line_of

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
DEFAULT_ARTIFACTS = "tunelab_artifacts"
ADMIN_USERNAME = "admin"
# MLflow's users and permissions, in the tracking database but in a schema of their own.
AUTH_SCHEMA = "mlflow_auth"

# The userinfo of a URI, up to its last "@": a password may hold "/", "#", "?" or "@".
_USERINFO = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/]*):(?P<password>.*)@"
)


def redact(uri: str) -> str:
    """The URI with its password replaced, for messages."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", uri, count=1)


def split_password(uri: str) -> tuple[str, str | None]:
    """The URI without its password, and the password (percent-decoded), or None."""
    match = _USERINFO.match(uri)
    if match is None:
        return uri, None
    rest = uri[match.end() :]
    return f"{match['scheme']}{match['user']}@{rest}", unquote(match["password"])


def is_loopback(host: str) -> bool:
    """Whether an address to listen on is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: whatever it resolves to, assume others can reach it


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def host_patterns(names: Sequence[str]) -> tuple[str, ...]:
    """MLflow's `--allowed-hosts` for the names clients reach the server by. MLflow compares
    the whole Host header, port included, so a name without a port would refuse every client
    that names one (`tunelab-tracking:5000`): each such name is admitted on any port. Loopback
    names are always admitted (a port-forward, a probe on the machine), as MLflow's own default
    does."""
    patterns: list[str] = []
    for name in (*names, *LOOPBACK_NAMES):
        # An IPv6 address is bracketed: [::1] or [::1]:5000.
        has_port = "]:" in name if name.startswith("[") else ":" in name
        if has_port or "*" in name:
            patterns.append(name)
        else:
            # fnmatch reads `[` as a set: an IPv6 address's opening bracket is escaped.
            patterns += [name, f"{name.replace('[', '[[]', 1)}:*"]
    return tuple(dict.fromkeys(patterns))


def with_schema(database_uri: str, schema: str) -> str:
    """The same database, with unqualified tables in `schema`."""
    parts = urlsplit(database_uri)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass(frozen=True)
class ServerConfig:
    database_uri: str
    artifacts_destination: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 2
    # None: no authentication, which `check()` allows on a loopback address only.
    admin_password: str | None = None
    admin_username: str = ADMIN_USERNAME
    insecure: bool = False
    allowed_hosts: tuple[str, ...] = ()
    cors_allowed_origins: tuple[str, ...] = ()
    # Serve request metrics for Prometheus on /metrics, its workers sharing this (empty) folder.
    metrics_dir: str | None = None

    def check(self) -> None:
        """Refuse what would expose the server: no authentication off loopback, unless told."""
        if self.admin_password is None and not self.insecure and not is_loopback(self.host):
            raise TunelabError(
                f"refusing to listen on {self.host} without authentication: give the admin "
                "password with --admin-password-file or $TUNELAB_ADMIN_PASSWORD (or pass "
                "--insecure to let anyone who reaches the port read and change runs, models "
                "and the registry)"
            )
        if self.admin_password is not None and not self.admin_password.strip():
            raise TunelabError("the admin password is empty")

    def command(self) -> list[str]:
        """The `mlflow server` command line this configuration runs: it holds no secret."""
        destination = self.artifacts_destination
        if "://" not in destination:
            destination = str(Path(destination).resolve())
        command = [
            sys.executable, "-m", "mlflow", "server",
            "--serve-artifacts",
            "--artifacts-destination", destination,
            "--host", self.host,
            "--port", str(self.port),
            "--workers", str(self.workers),
        ]  # fmt: skip
        if self.admin_password is not None:
            command += ["--app-name", "basic-auth"]
        if self.allowed_hosts:
            command += ["--allowed-hosts", ",".join(host_patterns(self.allowed_hosts))]
        if self.cors_allowed_origins:
            command += ["--cors-allowed-origins", ",".join(self.cors_allowed_origins)]
        if self.metrics_dir is not None:
            command += ["--expose-prometheus", self.metrics_dir]
        return command

    def environment(self, auth_config: Path | None = None) -> dict[str, str]:
        """What the server process is given through its environment, secrets included."""
        uri, password = split_password(self.database_uri)
        environment = {"MLFLOW_BACKEND_STORE_URI": uri}
        if password is not None:
            environment["PGPASSWORD"] = password
        if self.admin_password is not None:
            if auth_config is None:
                raise ValueError("an authenticated server needs its auth configuration file")
            environment |= {
                # Signs the UI's CSRF tokens: one per start unless set (then shared by replicas).
                "MLFLOW_FLASK_SERVER_SECRET_KEY": env.MLFLOW_FLASK_SERVER_SECRET_KEY.get()
                or secrets.token_urlsafe(32),
                "MLFLOW_AUTH_CONFIG_PATH": str(auth_config),
                "MLFLOW_AUTH_ADMIN_USERNAME": self.admin_username,
                "MLFLOW_AUTH_ADMIN_PASSWORD": self.admin_password,
            }
        return environment

    def auth_config_text(self) -> str:
        """MLflow's basic-auth configuration: users in the tracking database (schema
        `mlflow_auth`), everyone may read, each user manages what they create. No secret."""
        address, _ = split_password(self.database_uri)
        uri = with_schema(address, AUTH_SCHEMA)
        return (
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = {uri.replace('%', '%%')}\n"
            f"admin_username = {self.admin_username}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )


# The advisory lock a server's set-up of its database holds (any number of the database's own).
SETUP_LOCK = 0x74756E656C6162


def check_database(uri: str, *, schemas: Sequence[str] = ()) -> None:
    """Connect once, so a wrong URI is one clear line instead of a server that fails later; and
    create the `schemas` that are missing."""
    if not uri.startswith(("postgresql://", "postgresql+psycopg://")):
        raise DatabaseError(
            f"the database URI must be postgresql://USER:PASSWORD@HOST:PORT/DB, got {redact(uri)}"
        )
    import sqlalchemy

    address, password = split_password(uri)
    connect_args: dict[str, object] = {"connect_timeout": 5}
    if password is not None:
        connect_args["password"] = password
    try:
        engine = sqlalchemy.create_engine(address, connect_args=connect_args)
        with engine.connect() as connection:
            # Only the missing ones: a role that may use a schema need not be one that may
            # create schemas (a sweep's driver, as the role of its studies).
            existing = set(
                connection.execute(sqlalchemy.text("SELECT nspname FROM pg_namespace")).scalars()
            )
            missing = [schema for schema in schemas if schema not in existing]
            if missing:  # two processes' IF NOT EXISTS race: the second's fails; in turn, then
                connection.execute(sqlalchemy.text(f"SELECT pg_advisory_xact_lock({SETUP_LOCK})"))
            for schema in missing:
                connection.execute(sqlalchemy.text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
            connection.commit()
        engine.dispose()
    except (sqlalchemy.exc.SQLAlchemyError, ValueError) as exc:
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseError(f"cannot use the database {redact(uri)}: {cause}") from None


def prepare_database(
    config: ServerConfig,
    users: Sequence[tuple[str, str]] = (),
    study_role: tuple[str, str] | None = None,
    study_schema: str = "optuna",
) -> None:
    """Set the database up before the server's workers start: MLflow's tables where they are
    missing (an older MLflow's are left to `mlflow db upgrade`, as MLflow leaves them), and with
    authentication its users' tables, the admin, and `users` (name, password), each created or
    given that password. Under a lock of the database's own: replicas started together set it
    up once, in turn, rather than racing to create the same tables. The admin is created if
    missing (its password is then the admin's to change); a user of `users` is given the
    password it is started with, so the secret it comes from stays the truth.

    `study_role` (name, password): the PostgreSQL role sweeps' drivers keep their Optuna
    studies as, created or given that password, owning `study_schema` and its tables and
    nothing else: a driver (and any job on its Ray cluster) holds its password, not the
    owner's, so cannot read MLflow's runs nor edit its users."""
    import sqlalchemy
    from mlflow.exceptions import MlflowException

    address, password = split_password(config.database_uri)
    connect_args: dict[str, object] = {"connect_timeout": 5}
    if password is not None:
        connect_args["password"] = password
    engine = sqlalchemy.create_engine(address, connect_args=connect_args)
    try:
        with engine.connect() as lock:
            lock.execute(sqlalchemy.text(f"SELECT pg_advisory_lock({SETUP_LOCK})"))
            # MLflow's stores are given the password in their URI: this process's memory
            # only, never a command line or a message.
            _create_tables(config.database_uri, config.artifacts_destination)
            if study_role is not None:
                _give_schema(lock, *study_role, study_schema)
            if config.admin_password is not None:
                _create_users(config, users)
            lock.execute(sqlalchemy.text(f"SELECT pg_advisory_unlock({SETUP_LOCK})"))
    except sqlalchemy.exc.SQLAlchemyError as exc:
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseError(f"cannot set up the database {redact(address)}: {cause}") from None
    except MlflowException as exc:  # an older MLflow's tables, a password MLflow refuses, ...
        raise DatabaseError(
            f"cannot set up the database {redact(address)}: {first_line_of(exc)}"
        ) from None
    finally:
        engine.dispose()


def _give_schema(connection: Any, role: str, password: str, schema: str) -> None:
    """`role` may log in with `password` and owns `schema` and every table and sequence in it."""
    import sqlalchemy

    run = connection.execute
    name = _identifier(role)
    exists = run(sqlalchemy.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    # A password cannot be a bound parameter of CREATE ROLE: quoted as a literal instead.
    literal = "'" + password.replace("'", "''") + "'"
    verb = "ALTER" if exists else "CREATE"
    run(sqlalchemy.text(f"{verb} ROLE {name} LOGIN PASSWORD {literal}"))
    run(sqlalchemy.text(f"ALTER SCHEMA {_identifier(schema)} OWNER TO {name}"))
    owned = run(
        sqlalchemy.text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :s AND c.relkind IN ('r', 'p', 'S') "
            "AND pg_get_userbyid(c.relowner) <> :r"
        ),
        {"s": schema, "r": role},
    ).scalars()
    for table in list(owned):
        run(
            sqlalchemy.text(
                f"ALTER TABLE {_identifier(schema)}.{_identifier(table)} OWNER TO {name}"
            )
        )
    connection.commit()


def _identifier(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise TunelabError(
            f"a PostgreSQL role or schema name is lower-case letters, digits and _, got {name!r}"
        )
    return name


def _create_tables(uri: str, artifacts: str) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    SqlAlchemyStore(uri, artifacts).engine.dispose()  # creates them where missing


def _create_users(config: ServerConfig, users: Sequence[tuple[str, str]]) -> None:
    with warnings.catch_warnings():  # MLflow's server app, imported with it: its deprecations
        warnings.simplefilter("ignore")
        from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(with_schema(config.database_uri, AUTH_SCHEMA))
    try:
        if not store.has_user(config.admin_username, use_primary=True):
            assert config.admin_password is not None
            store.create_user(config.admin_username, config.admin_password, is_admin=True)
        for name, secret in users:
            if not store.has_user(name, use_primary=True):
                store.create_user(name, secret)
            elif not store.authenticate_user(name, secret, use_primary=True):
                store.update_user(name, password=secret)
    finally:
        store.engine.dispose()


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


def refused_access(exc: BaseException) -> str | None:
    """One line for a request the tracking server refused for its credentials (401) or its
    user's permissions (403); None for any other error."""
    if not type(exc).__module__.startswith("mlflow"):
        return None
    code = getattr(exc, "error_code", None)
    user = env.MLFLOW_TRACKING_USERNAME.get()
    if code == "UNAUTHENTICATED":
        if user is None:
            return (
                "the tracking server needs credentials: set MLFLOW_TRACKING_USERNAME and "
                "MLFLOW_TRACKING_PASSWORD"
            )
        return (
            f"the tracking server refused the password of user {user!r} (MLFLOW_TRACKING_PASSWORD)"
        )
    if code == "PERMISSION_DENIED":
        endpoint = re.search(r"endpoint (\S+)", str(exc))
        request = f" ({endpoint[1]})" if endpoint else ""
        return (
            f"permission denied by the tracking server{request}: user {user!r} may read but not "
            "change this; an admin of the server can grant EDIT or MANAGE"
        )
    return None
