"""The console through the ASGI app: people with passwords, in two accounts, logging in with
the login form as a browser would."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from flowport.api.app import create_app
from flowport.domain.accounts import Role
from flowport.services import instances, processes, users
from tests.conftest import EXAMPLES, FIXTURES

PASSWORD = "correct horse"


class Visitor:
    """A browser without JavaScript: cookies, forms with the CSRF token, no redirects
    followed unless asked."""

    def __init__(self, app: Any) -> None:
        self.http = TestClient(app, raise_server_exceptions=False, follow_redirects=False)

    def log_in(self, login: str, password: str = PASSWORD) -> httpx.Response:
        form = self.http.get("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert token, form.text
        return self.http.post("/login", data={"login": login, "password": password,
                                              "login_token": token.group(1), "next": "/"})

    @property
    def csrf(self) -> str:
        return self.http.cookies.get("flowport_csrf") or ""

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True,
             **kw: Any) -> httpx.Response:
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.csrf)
        return self.http.post(path, data=data, **kw)


@dataclass
class World:
    app: Any
    ctx: Any
    admin: Any  # principal of acme's admin
    waiting_id: str  # an `approval` instance waiting at its user task
    uid: str  # that user task's uid

    def visitor(self, login: str | None = None) -> Visitor:
        visitor = Visitor(self.app)
        if login:
            response = visitor.log_in(login)
            assert response.status_code == 303, response.text
        return visitor

    def instance(self, instance_id: str | None = None) -> Any:
        return instances.get_instance(self.ctx, self.admin, instance_id or self.waiting_id)

    def count_instances(self) -> int:
        return len(instances.list_instances(self.ctx, self.admin,
                                            instances.ListInstances(limit=500)).items)


def deploy(ctx: Any, who: Any, key: str, path: Any, sidecar: Any = None) -> None:
    meta = json.loads(sidecar.read_text()) if sidecar else {}
    processes.create_process(ctx, who, processes.CreateProcess(key=key, name=meta.get("name")))
    processes.deploy_version(ctx, who, key, processes.DeployVersion(
        path.name, path.read_bytes(), meta.get("parameters"), meta.get("outputs")))


@pytest.fixture
def world(ctx, admin, other) -> Iterator[World]:
    flows = FIXTURES / "flows"
    deploy(ctx, admin, "approval", flows / "approval.bpmn")
    deploy(ctx, admin, "straight", flows / "straight.bpmn")
    deploy(ctx, admin, "expense", EXAMPLES / "expense-approval.bpmn",
           EXAMPLES / "expense-approval.flowport.json")
    for role in Role:
        users.create_user(ctx, admin, users.CreateUser(role.value, PASSWORD, frozenset({role})))
    users.create_user(ctx, other, users.CreateUser("intruder", PASSWORD,
                                                   frozenset({Role.ADMIN})))
    started = instances.start_instance(ctx, admin, instances.StartInstance("approval"))
    uid = next(e.uid for e in instances.list_elements(ctx, admin, started.instance.id)
               if e.element_id == "Approve")
    yield World(create_app(ctx), ctx, admin, started.instance.id, uid)


@pytest.fixture(autouse=True)
def quick_passwords(monkeypatch):
    """argon2 at its real cost takes a good part of a second per user and login; these tests
    are about pages, so hash cheaply (the hash records its own parameters)."""
    from argon2 import PasswordHasher

    from flowport.services import auth

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                        parallelism=1))
