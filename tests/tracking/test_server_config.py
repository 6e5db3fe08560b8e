"""`tunelab server`'s configuration: what reaches the `mlflow server` process, and how."""

from __future__ import annotations

import pytest

from tunelab.errors import TunelabError
from tunelab.tracking import ServerConfig, redact, split_password

PASSWORD = "p/a#s?s@w:rd"
ENCODED = "p%2Fa%23s%3Fs%40w%3Ard"


@pytest.mark.parametrize("password", [PASSWORD, ENCODED])
def test_redact_hides_a_password_with_uri_delimiters_in_it(password: str) -> None:
    uri = f"postgresql://tunelab:{password}@db.internal:5432/tunelab?sslmode=require"
    assert redact(uri) == "postgresql://tunelab:***@db.internal:5432/tunelab?sslmode=require"


def test_redact_leaves_a_uri_without_password_alone() -> None:
    assert redact("postgresql://tunelab@db:5432/x") == "postgresql://tunelab@db:5432/x"
    assert redact("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


@pytest.mark.parametrize("password", [PASSWORD, ENCODED])
def test_split_password_returns_the_address_and_the_decoded_password(password: str) -> None:
    address, secret = split_password(f"postgresql://tunelab:{password}@db:5432/tunelab")
    assert (address, secret) == ("postgresql://tunelab@db:5432/tunelab", PASSWORD)


def config(password: str = ENCODED, **fields: object) -> ServerConfig:
    uri = f"postgresql://tunelab:{password}@db:5432/tunelab"
    return ServerConfig(database_uri=uri, artifacts_destination="s3://bucket/a", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("password", [PASSWORD, ENCODED])
def test_no_secret_is_in_the_command_and_every_secret_is_in_the_environment(
    tmp_path, password: str
) -> None:
    server = config(password, admin_password="admin pass", host="0.0.0.0")
    server.check()
    ini = tmp_path / "auth.ini"
    command, environment = server.command(), server.environment(ini)
    assert not any(PASSWORD in part or ENCODED in part or "admin pass" in part for part in command)
    assert command[command.index("--app-name") + 1] == "basic-auth"
    assert environment["MLFLOW_BACKEND_STORE_URI"] == "postgresql://tunelab@db:5432/tunelab"
    assert environment["PGPASSWORD"] == PASSWORD
    assert environment["MLFLOW_AUTH_ADMIN_PASSWORD"] == "admin pass"
    assert environment["MLFLOW_AUTH_CONFIG_PATH"] == str(ini)
    text = server.auth_config_text()
    assert "password" not in text.replace("admin_password", "") and PASSWORD not in text
    assert "search_path%%3Dmlflow_auth" in text  # its own schema, escaped for configparser


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "tracking.example.com", "::"])
def test_no_authentication_off_loopback_is_refused(host: str) -> None:
    with pytest.raises(TunelabError, match=f"refusing to listen on {host} without auth"):
        config(host=host).check()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_no_authentication_on_loopback_is_allowed(host: str) -> None:
    server = config(host=host)
    server.check()
    assert "--app-name" not in server.command()


def test_insecure_lets_an_open_server_listen_anywhere() -> None:
    config(host="0.0.0.0", insecure=True).check()


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("tunelab-tracking:5000", True),  # the Service's name and port, as its clients send it
        ("tunelab-tracking", True),
        ("tunelab-tracking.tunelab.svc.cluster.local:5000", True),
        ("127.0.0.1:5000", True),  # a port-forward
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("tracking.example.com:8443", True),  # given with its port: that port only
        ("tracking.example.com:5000", False),
        ("evil.example.com:5000", False),  # DNS rebinding: refused
        ("10.0.0.5:5000", False),  # a name the user did not give
    ],
)
def test_allowed_hosts_admit_each_name_on_any_port_as_mlflow_checks_it(
    host: str, allowed: bool
) -> None:
    from mlflow.server.security_utils import is_allowed_host_header

    server = config(
        allowed_hosts=("tunelab-tracking", "tunelab-tracking.tunelab.svc.cluster.local",
                       "tracking.example.com:8443"),
    )  # fmt: skip
    command = server.command()
    patterns = command[command.index("--allowed-hosts") + 1].split(",")
    assert is_allowed_host_header(patterns, host) is allowed


def test_a_user_folder_that_cannot_be_read_is_one_line_before_the_database(tmp_path) -> None:
    import subprocess
    import sys

    password = tmp_path / "admin"
    password.write_text("an admin's password")
    (tmp_path / "sweeper").mkdir()
    (tmp_path / "sweeper" / "username").write_text("sweeper")  # and no password
    result = subprocess.run(
        [sys.executable, "-m", "tunelab.cli", "server", "--admin-password-file", str(password),
         "--user-from", str(tmp_path / "sweeper"),
         "--database-uri", "postgresql://tunelab@127.0.0.1:9/none"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"tunelab: error: --user-from {tmp_path / 'sweeper'}: cannot read "
        f"{tmp_path / 'sweeper' / 'password'}: No such file or directory"
    ]
