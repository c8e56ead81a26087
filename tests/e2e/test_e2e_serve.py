"""`flowport serve` as `make run` uses it: the default SQLite file under the working directory,
examples deployed, a generated admin token written to a file, a graceful SIGTERM."""

from __future__ import annotations

import stat

import pytest
from click.testing import CliRunner

from flowport.cli import main
from flowport.store.migrate import current_revision
from tests.e2e.harness import EXAMPLES

pytestmark = pytest.mark.e2e


def test_make_run_twice(server_factory, tmp_path) -> None:
    server = server_factory(None, workdir=tmp_path)  # no FLOWPORT_* variables at all
    server.start("--examples", str(EXAMPLES), "--token-file", "var/admin.token")

    token_file = tmp_path / "var" / "admin.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    assert (tmp_path / "var" / "flowport.db").is_file()
    banner = server.output()
    assert f"{server.url}/docs" in banner
    assert "Authorization: Bearer <token>" in banner
    assert f"export FLOWPORT_URL={server.url} FLOWPORT_TOKEN={token}" in banner
    assert "examples: order-routing v1 deployed" in banner

    with server.client(token) as api:
        keys = {p["key"] for p in api.list_processes()["items"]}
        assert {"order-routing", "expense-approval", "UsrGetAllContacts"} <= keys
        started = api.start("order-routing", {"order_id": "A", "amount": 1}, wait_timeout=10)
        assert started.instance["status"] == "completed"
    assert server.stop() == 0  # SIGTERM: graceful

    server.start("--examples", str(EXAMPLES), "--token-file", "var/admin.token")
    banner = server.output()
    assert token not in banner, "the token is printed only when it is created"
    assert "the admin token is in var/admin.token" in banner
    assert "examples: order-routing v1 unchanged" in banner
    with server.client(token) as api:
        assert api.get_process("order-routing")["current_version"] == 1
        assert api.list_instances()["items"][0]["id"] == started.instance["id"]
    assert server.stop() == 0


def test_db_upgrade(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = CliRunner().invoke(main, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert current_revision(url) is not None
    again = CliRunner().invoke(main, ["db", "upgrade", "--database-url", url])
    assert again.exit_code == 0, again.output


def test_serve_refuses_an_unreachable_database(tmp_path) -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/none"
    result = CliRunner().invoke(main, ["serve", "--database-url", url])
    assert result.exit_code == 1
    assert "cannot migrate" in result.stderr
    assert "secret" not in result.stderr
