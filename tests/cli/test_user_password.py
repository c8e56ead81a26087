"""The first-login path: the bootstrap admin's password, and `flowport user set-password`
run where the server runs."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from flowport.cli import main
from flowport.errors import BadInput, Unauthenticated
from flowport.services import auth


def set_password(database_url: str, login: str, typed: str, *args: str):
    return CliRunner().invoke(main, ["user", "set-password", login, "--database-url",
                                     database_url, *args], input=typed)


def test_set_password_lets_the_user_log_in_and_ends_their_sessions(ctx, database_url, admin):
    result = set_password(database_url, "alice", "first secret\n", "--password-stdin")
    assert result.exit_code == 0, result.output
    old = auth.login(ctx, auth.Login("alice", "first secret"))
    result = set_password(database_url, "alice", "second secret\nsecond secret\n")
    assert result.exit_code == 0, result.output
    assert "the password of 'alice' is set" in result.output
    with pytest.raises(Unauthenticated):
        auth.authenticate_session(ctx, old.secret)
    with pytest.raises(Unauthenticated):
        auth.login(ctx, auth.Login("alice", "first secret"))
    assert auth.login(ctx, auth.Login("alice", "second secret")).principal.login == "alice"


@pytest.mark.parametrize(("login", "typed", "message"), [
    ("ghost", "long enough\n", "no user 'ghost'"),
    ("alice", "short\n", "a password holds 8 to 256 characters"),
])
def test_set_password_refuses_and_changes_nothing(ctx, database_url, admin, login, typed,
                                                  message):
    result = set_password(database_url, login, typed, "--password-stdin")
    assert result.exit_code == 1
    assert message in result.output
    with pytest.raises(Unauthenticated):
        auth.login(ctx, auth.Login("alice", typed.strip()))


def test_the_prompt_asks_twice_and_refuses_a_mismatch(database_url, admin):
    result = set_password(database_url, "alice", "one secret\nanother one\n")
    assert result.exit_code != 0
    assert "do not match" in result.output


def test_the_bootstrap_admin_logs_in_with_its_password(ctx):
    token = auth.bootstrap_admin(ctx, None, "initial secret")
    assert token is not None
    session = auth.login(ctx, auth.Login("admin", "initial secret"))
    assert session.principal.system_admin


def test_a_too_short_bootstrap_password_creates_nobody(ctx):
    with pytest.raises(BadInput):
        auth.bootstrap_admin(ctx, None, "short")
    with ctx.store.transaction(write=False) as tx:
        assert tx.count_users() == 0
