"""The seed's console client (seed 002 §4, C#) ported line for line to Python and run against
a real `flowport serve` with the examples of examples/creatio deployed by the CLI: log in with
AuthService.svc, then the two GET calls with the cookie jar and the BPMCSRF header. What it
prints is what the seed's program prints."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from xml.etree import ElementTree

import httpx
import pytest

from flowport.client import Client
from tests.e2e.harness import EXAMPLES, Server

pytestmark = pytest.mark.e2e
SERIALIZATION = "{http://schemas.microsoft.com/2003/10/Serialization/}string"


class ConsoleClient:
    """`Program` of the seed: one cookie container (`AuthCookie`) for every request."""

    def __init__(self, base_uri: str, write_line: Callable[[object], None]) -> None:
        self.auth_service_uri = base_uri + "/ServiceModel/AuthService.svc/Login"
        self.process_service_uri = base_uri + "/0/ServiceModel/ProcessEngineService.svc/"
        self.auth_cookie = httpx.Cookies()
        self.write_line = write_line

    def _request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        # HttpWebRequest with a CookieContainer; Creatio also wants the CSRF cookie echoed.
        headers = {}
        if csrf := self.auth_cookie.get("BPMCSRF"):
            headers["BPMCSRF"] = csrf
        with httpx.Client(cookies=self.auth_cookie, timeout=30) as http:
            response = http.request(method, url, headers=headers, **kwargs)
            self.auth_cookie.update(response.cookies)
        response.raise_for_status()  # GetResponse() throws on an error status
        return response

    def try_login(self, user_name: str, user_password: str) -> bool:
        response = self._request("POST", self.auth_service_uri,
                                 json={"UserName": user_name, "UserPassword": user_password})
        return bool(response.json()["Code"] == 0)

    def add_contact(self, contact_name: str, contact_phone: str) -> None:
        # string.Format puts the values into the URL unencoded, spaces and '+' included.
        request_string = (self.process_service_uri
                          + f"UsrAddNewExternalContact/Execute?ContactName={contact_name}"
                          + f"&ContactPhone={contact_phone}")
        response = self._request("GET", request_string)
        self.write_line(response.headers.get("Content-Length"))
        self.write_line(len(response.headers))

    def get_all_contacts(self) -> None:
        request_string = (self.process_service_uri
                          + "UsrGetAllContacts/Execute?ResultParameterName=ContactList")
        self.write_line(self._request("GET", request_string).text)

    def main(self, login: str, password: str) -> None:
        if not self.try_login(login, password):
            self.write_line("Wrong login or password. Application will be terminated.")
            return
        self.add_contact("John Johanson", "+1 111 111 1111")
        self.get_all_contacts()


@pytest.fixture
def deployed(server: Server) -> Server:
    run = server.cli("deploy", str(EXAMPLES / "creatio"))
    assert run.exit_code == 0, run.output
    # The seed logs in as Supervisor: a user with a password, made through the native API.
    made = httpx.post(f"{server.url}/api/v1/users", json={
        "login": "Supervisor", "password": "Supervisor1", "roles": ["operator"]},
        headers={"Authorization": f"Bearer {server.token}"})
    assert made.status_code == 201, made.text
    return server


def test_the_seed_console_client_prints_the_contact_list(deployed: Server, api: Client) -> None:
    printed: list[str] = []
    program = ConsoleClient(deployed.url, lambda line: printed.append(str(line)))

    program.main("Supervisor", "Supervisor1")
    program.main("Supervisor", "Supervisor1")  # run twice: the seed creates duplicates

    # Per run: Content-Length 0 and a header count from AddContact, then the XML result.
    assert [printed[0], printed[3]] == ["0", "0"]
    first, second = (ElementTree.fromstring(printed[i]) for i in (2, 5))
    assert first.tag == second.tag == SERIALIZATION
    contacts = json.loads(second.text or "")
    assert [(c["Name"], c["Phone"]) for c in contacts] == [("John Johanson",
                                                           " 1 111 111 1111")] * 2
    assert all(re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", c["Id"])
               for c in contacts)
    assert len({c["Id"] for c in contacts}) == 2
    assert json.loads(first.text or "") == contacts[:1]
    # The same contacts natively, started through the dialect and visible as instances.
    assert [r["id"] for r in api.list_records("Contact")] == [c["Id"] for c in contacts]
    assert {i["process_key"] for i in api.list_instances()["items"]} == {
        "UsrAddNewExternalContact", "UsrGetAllContacts"}


def test_a_wrong_password_ends_the_program(deployed: Server, api: Client) -> None:
    printed: list[str] = []
    ConsoleClient(deployed.url, lambda line: printed.append(str(line))).main("Supervisor",
                                                                             "wrong")
    assert printed == ["Wrong login or password. Application will be terminated."]
    assert api.list_records("Contact") == []
    assert api.list_instances()["items"] == []
