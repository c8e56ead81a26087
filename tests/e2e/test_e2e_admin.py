"""Administration from the command line against a real server: accounts, users (created,
re-roled, disabled, given a new password), tokens and the audit trail."""

from __future__ import annotations

import json

import pytest

from tests.e2e.harness import Server

pytestmark = pytest.mark.e2e


def run(server: Server, *args: str, token: str | None = None, stdin: str | None = None,
        ok: bool = True) -> object:
    result = server.cli(*args, token=token, stdin=stdin)
    assert (result.exit_code == 0) == ok, result.output
    return json.loads(result.stdout) if ok and result.stdout.strip() else result


def test_admin_cli(server: Server) -> None:
    account = run(server, "account", "create", "initech")
    assert isinstance(account, dict) and account["name"] == "initech"
    boss = run(server, "user", "create", "peter", "--role", "admin", "--account-id",
               str(account["id"]), "--name", "Peter", "--password-stdin",
               stdin="correct horse\n")
    assert isinstance(boss, dict) and boss["account_id"] == account["id"]
    assert "correct horse" not in json.dumps(boss)

    with server.client() as root:
        milton = root.create_user("milton", "stapler stapler", ["viewer"])
        token = root.create_token("milton-ci")  # the admin's own token, to revoke below
    updated = run(server, "user", "update", str(milton["id"]), "--role", "operator",
                  "--role", "viewer", "--email", "m@initech.example")
    assert isinstance(updated, dict)
    assert updated["roles"] == ["operator", "viewer"] and updated["email"] == "m@initech.example"
    assert run(server, "user", "update", str(milton["id"]), "--disable")["disabled"] is True
    run(server, "user", "update", str(milton["id"]), "--enable", "--reset-password",
        "--password-stdin", stdin="red stapler\n")
    users = run(server, "user", "list")
    assert isinstance(users, list) and {u["login"] for u in users} == {"admin", "milton"}

    assert any(t["id"] == token["id"] for t in run(server, "token", "list"))
    run(server, "token", "revoke", str(token["id"]))
    assert next(t for t in run(server, "token", "list")
                if t["id"] == token["id"])["revoked_at"] is not None

    events = run(server, "audit", "--limit", "20")
    assert isinstance(events, dict)
    kinds = [e["kind"] for e in events["items"]]
    for kind in ("account.created", "user.created", "user.roles_changed", "user.disabled",
                 "user.enabled", "user.password_reset", "token.created", "token.revoked"):
        assert kind in kinds, kinds
    # A refusal is an error message and exit status 1, not JSON.
    refused = run(server, "user", "create", "peter", "--role", "viewer", "--password-stdin",
                  stdin="correct horse\n", ok=False)
    assert "409" in refused.output and "login" in refused.output
