"""A typed client for Flowport's native REST API v1.

It imports nothing of the server, so the CLI and the robot agent can ship it with httpx alone.
Every non-2xx answer raises `ApiError` carrying the RFC 7807 problem document; network failures
surface as httpx's own `httpx.TransportError`.

    with Client("http://127.0.0.1:8080", token) as api:
        started = api.start("order-routing", {"order_id": "A-1", "amount": 40}, wait_timeout=10)
        print(started.instance["outputs"])
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

JSON = dict[str, Any]
DEFAULT_TIMEOUT = 30.0
# Added to a launch-and-wait's own timeout, so the server answers (202) before we give up.
WAIT_MARGIN = 10.0


class ApiError(Exception):
    """The server refused a request; `problem` is its RFC 7807 body."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        super().__init__(f"{status} {self.title}: {self.detail}")

    @property
    def title(self) -> str:
        return str(self.problem.get("title") or "Error")

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or "")

    @property
    def code(self) -> str | None:
        code = self.problem.get("code")
        return str(code) if code is not None else None

    @property
    def field(self) -> str | None:
        field = self.problem.get("field")
        return str(field) if field is not None else None


@dataclass(frozen=True)
class Deployed:
    """An uploaded version; `created` is False when identical content was there already."""

    version: JSON
    created: bool


@dataclass(frozen=True)
class Started:
    """The answer to a start: 201 new, 200 an idempotent repeat or a finished wait, 202 the wait
    timed out and the instance keeps running."""

    instance: JSON
    status_code: int
    location: str | None

    @property
    def created(self) -> bool:
        return self.status_code == 201

    @property
    def timed_out(self) -> bool:
        return self.status_code == 202


def _segment(value: str | int) -> str:
    return quote(str(value), safe="")


def _problem(response: httpx.Response) -> JSON:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    text = response.text.strip()[:1000]
    return {"type": "about:blank", "title": response.reason_phrase or "Error",
            "status": response.status_code, "detail": text or response.reason_phrase}


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class Client:
    """One connection pool to one server, authenticated with one API token."""

    def __init__(self, base_url: str, token: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, *, http: httpx.Client | None = None) -> None:
        """`http` lets a caller supply its own httpx client (e.g. a test client bound to an
        ASGI app); `base_url` is then ignored."""
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._headers = headers
        self._timeout = timeout
        self._owned = http is None
        self._http = http or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None,
                 _tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self._http.close()

    def _send(self, method: str, path: str, *, timeout: float | None = None,
              headers: Mapping[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        if timeout is not None:  # else the pool's own default applies
            kwargs["timeout"] = timeout
        response = self._http.request(
            method, path, headers={**self._headers, **(headers or {})}, **kwargs)
        if response.status_code >= 400:
            raise ApiError(response.status_code, _problem(response))
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        return response.json() if response.content else None

    # -- system -------------------------------------------------------------------------------

    def health(self) -> JSON:
        result: JSON = self._json("GET", "/healthz")
        return result

    # -- processes and versions ---------------------------------------------------------------

    def create_process(self, key: str, name: str | None = None, description: str = "",
                       process_type: int = 0, min_version_to_run: str | None = None,
                       robot_tags: list[str] | None = None, max_attempts: int | None = None,
                       retry_backoff: int | None = None) -> JSON:
        body = _params(key=key, name=name, description=description, process_type=process_type,
                       min_version_to_run=min_version_to_run, robot_tags=robot_tags,
                       max_attempts=max_attempts, retry_backoff=retry_backoff)
        result: JSON = self._json("POST", "/api/v1/processes", json=body)
        return result

    def get_process(self, key: str) -> JSON:
        result: JSON = self._json("GET", f"/api/v1/processes/{_segment(key)}")
        return result

    def list_processes(self, search: str | None = None, order: str = "key",
                       cursor: str | None = None, limit: int = 50) -> JSON:
        """One page: `{items, next_cursor}`."""
        params = _params(search=search, order=order, cursor=cursor, limit=limit)
        result: JSON = self._json("GET", "/api/v1/processes", params=params)
        return result

    def delete_process(self, key: str) -> None:
        self._send("DELETE", f"/api/v1/processes/{_segment(key)}")

    def deploy_version(self, key: str, source: str | Path | bytes, file_name: str | None = None,
                       parameters: list[Any] | None = None,
                       outputs: list[Any] | dict[str, str] | None = None,
                       bpmn_process_id: str | None = None) -> Deployed:
        """Upload a version from a path or from bytes (then `file_name` is required: its
        extension says what the content is)."""
        if isinstance(source, bytes):
            if not file_name:
                raise ValueError("file_name is required when uploading bytes")
            content = source
        else:
            path = Path(source)
            content = path.read_bytes()
            file_name = file_name or path.name
        form = _params(parameters=None if parameters is None else json.dumps(parameters),
                       outputs=None if outputs is None else json.dumps(outputs),
                       bpmn_process_id=bpmn_process_id)
        response = self._send("POST", f"/api/v1/processes/{_segment(key)}/versions",
                               files={"file": (file_name, content)}, data=form)
        return Deployed(response.json(), created=response.status_code == 201)

    def list_versions(self, key: str) -> list[JSON]:
        items: list[JSON] = self._json("GET", f"/api/v1/processes/{_segment(key)}/versions")[
            "items"]
        return items

    def get_version(self, key: str, number: int) -> JSON:
        result: JSON = self._json(
            "GET", f"/api/v1/processes/{_segment(key)}/versions/{_segment(number)}")
        return result

    # -- instances ----------------------------------------------------------------------------

    def start(self, key: str, variables: Mapping[str, Any] | None = None,
              version: int | None = None, business_key: str | None = None,
              wait_timeout: float | None = None, wait_variable: str | None = None,
              idempotency_key: str | None = None, debug: bool | None = None,
              **robot: Any) -> Started:
        """Start an instance. With `wait_timeout` (or `wait_variable`) the server holds the
        request until the instance ends (or sets that variable) or the time runs out. A package
        instance also takes `stop_after`, `abort_after` (ISO 8601), `robot_id`,
        `robot_group_id` and `robot_tags`."""
        body: JSON = _params(variables=dict(variables or {}), version=version,
                             business_key=business_key, debug=debug, **robot)
        timeout = None
        if wait_timeout is not None or wait_variable is not None:
            wait_for = DEFAULT_TIMEOUT if wait_timeout is None else wait_timeout
            body["wait"] = _params(timeout=wait_for, variable=wait_variable)
            timeout = max(self._timeout, wait_for + WAIT_MARGIN)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        response = self._send("POST", f"/api/v1/processes/{_segment(key)}/instances",
                              json=body, headers=headers, timeout=timeout)
        return Started(response.json(), response.status_code, response.headers.get("Location"))

    def get_instance(self, instance_id: str) -> JSON:
        result: JSON = self._json("GET", f"/api/v1/instances/{_segment(instance_id)}")
        return result

    def list_instances(self, process_key: str | None = None, status: str | None = None,
                       business_key: str | None = None, cursor: str | None = None,
                       limit: int = 50, schedule_id: int | None = None) -> JSON:
        """One page: `{items, next_cursor}`."""
        params = _params(process_key=process_key, status=status, business_key=business_key,
                         cursor=cursor, limit=limit, schedule_id=schedule_id)
        result: JSON = self._json("GET", "/api/v1/instances", params=params)
        return result

    def iter_instances(self, process_key: str | None = None, status: str | None = None,
                       business_key: str | None = None, page_size: int = 100,
                       schedule_id: int | None = None) -> Iterator[JSON]:
        """Every matching instance, following the cursor page by page."""
        cursor = None
        while True:
            page = self.list_instances(process_key, status, business_key, cursor, page_size,
                                       schedule_id)
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def list_elements(self, instance_id: str) -> list[JSON]:
        items: list[JSON] = self._json(
            "GET", f"/api/v1/instances/{_segment(instance_id)}/elements")["items"]
        return items

    def list_events(self, instance_id: str) -> list[JSON]:
        items: list[JSON] = self._json(
            "GET", f"/api/v1/instances/{_segment(instance_id)}/events")["items"]
        return items

    def complete_element(self, instance_id: str, uid: str,
                         data: Mapping[str, Any] | None = None) -> JSON:
        """Complete a waiting element; `changed` is False when it was completed already."""
        result: JSON = self._json(
            "POST", f"/api/v1/instances/{_segment(instance_id)}/elements/{_segment(uid)}/complete",
            json={"data": dict(data or {})})
        return result

    def cancel(self, instance_id: str, reason: str | None = None) -> JSON:
        result: JSON = self._json("POST", f"/api/v1/instances/{_segment(instance_id)}/cancel",
                                  json=_params(reason=reason))
        return result

    def delete_instance(self, instance_id: str) -> JSON:
        """Start the instance's delete instance (its executors' delete hooks); see `cleanup`
        in the answer."""
        result: JSON = self._json("POST", f"/api/v1/instances/{_segment(instance_id)}/delete")
        return result

    def list_steps(self, instance_id: str) -> list[JSON]:
        items: list[JSON] = self._json(
            "GET", f"/api/v1/instances/{_segment(instance_id)}/steps")["items"]
        return items

    def step_action(self, step_id: str, action: str, body: JSON | None = None) -> JSON:
        """`rerun` or `resume` a failed step (debug mode), or `finish` a parked one."""
        result: JSON = self._json("POST", f"/api/v1/steps/{_segment(step_id)}/{action}",
                                  json=body)
        return result

    def stop(self, instance_id: str, reason: str | None = None) -> JSON:
        """Stop gracefully (a robot interrupts the run; a BPMN instance ends stopped)."""
        result: JSON = self._json("POST", f"/api/v1/instances/{_segment(instance_id)}/stop",
                                  json=_params(reason=reason))
        return result

    def abort(self, instance_id: str, reason: str | None = None) -> JSON:
        """Stop hard (a robot kills the run)."""
        result: JSON = self._json("POST", f"/api/v1/instances/{_segment(instance_id)}/abort",
                                  json=_params(reason=reason))
        return result

    def get_job(self, instance_id: str) -> JSON:
        """A package instance's dispatch state: attempts, robot, lease, deadlines."""
        result: JSON = self._json("GET", f"/api/v1/instances/{_segment(instance_id)}/job")
        return result

    def pending_reasons(self, instance_id: str) -> JSON:
        """Why a pending package instance is not running now: `{status, reasons}`."""
        result: JSON = self._json(
            "GET", f"/api/v1/instances/{_segment(instance_id)}/pending-reasons")
        return result

    def iter_logs(self, instance_id: str, page_size: int = 500) -> Iterator[JSON]:
        """A robot's log lines for an instance, oldest first, page by page."""
        cursor = None
        while True:
            page = self._json("GET", f"/api/v1/instances/{_segment(instance_id)}/logs",
                              params=_params(cursor=cursor, limit=page_size))
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def list_artifacts(self, instance_id: str) -> list[JSON]:
        items: list[JSON] = self._json(
            "GET", f"/api/v1/instances/{_segment(instance_id)}/artifacts")["items"]
        return items

    def get_artifact(self, instance_id: str, name: str) -> bytes:
        path = "/".join(_segment(part) for part in name.split("/"))
        return self._send("GET", f"/api/v1/instances/{_segment(instance_id)}/artifacts/"
                                 f"{path}").content

    # -- robots -------------------------------------------------------------------------------

    def create_robot(self, name: str, tags: list[str] | None = None, slots: int | None = None,
                     description: str | None = None) -> JSON:
        """A new robot; its one-time `enrollment_token` is only in this answer."""
        result: JSON = self._json("POST", "/api/v1/robots", json=_params(
            name=name, tags=tags, slots=slots, description=description))
        return result

    def list_robots(self) -> list[JSON]:
        items, cursor = [], None
        while True:
            page = self._json("GET", "/api/v1/robots", params=_params(cursor=cursor, limit=500))
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def get_robot(self, robot_id: str) -> JSON:
        result: JSON = self._json("GET", f"/api/v1/robots/{_segment(robot_id)}")
        return result

    def delete_robot(self, robot_id: str) -> None:
        """Delete a robot; its credential stops working at once."""
        self._send("DELETE", f"/api/v1/robots/{_segment(robot_id)}")

    # -- the robot agent's protocol (with the robot's own credential) ------------------------

    def enroll(self, enrollment_token: str, machine: str = "",
               runtime_version: str | None = None, tags: list[str] | None = None,
               slots: int | None = None) -> JSON:
        """Trade a one-time enrollment token for the robot's credential (`token`)."""
        result: JSON = self._json("POST", "/api/v1/robot/enroll", json=_params(
            enrollment_token=enrollment_token, machine=machine,
            runtime_version=runtime_version, tags=tags, slots=slots))
        return result

    def heartbeat(self, jobs: Mapping[str, int], **about: Any) -> JSON:
        """Renew the leases of `jobs` ({instance id: fencing token}); the answer's `commands`
        say what to do with them (stop, abort, drop). `about`: machine, runtime_version,
        tags, slots."""
        body = _params(jobs=[{"id": k, "fencing_token": v} for k, v in jobs.items()], **about)
        result: JSON = self._json("POST", "/api/v1/robot/heartbeat", json=body)
        return result

    def claim(self, max_jobs: int = 1, timeout: float = 0.0) -> JSON:
        """Up to `max_jobs` jobs, waiting up to `timeout` seconds for one (a long poll)."""
        result: JSON = self._json("POST", "/api/v1/robot/claim",
                                  json={"max_jobs": max_jobs, "timeout": timeout},
                                  timeout=max(self._timeout, timeout + WAIT_MARGIN))
        return result

    def _job(self, instance_id: str, what: str) -> str:
        return f"/api/v1/robot/jobs/{_segment(instance_id)}/{what}"

    def complete_job(self, instance_id: str, fencing_token: int,
                     outputs: Mapping[str, Any] | None = None) -> JSON:
        result: JSON = self._json("POST", self._job(instance_id, "complete"), json={
            "fencing_token": fencing_token, "outputs": dict(outputs or {})})
        return result

    def fail_job(self, instance_id: str, fencing_token: int, error: str,
                 status: str = "failed", retryable: bool = False) -> JSON:
        result: JSON = self._json("POST", self._job(instance_id, "fail"), json={
            "fencing_token": fencing_token, "error": error, "status": status,
            "retryable": retryable})
        return result

    def add_logs(self, instance_id: str, fencing_token: int, lines: list[JSON]) -> JSON:
        """Log lines: each `{level, message, time}`."""
        result: JSON = self._json("POST", self._job(instance_id, "logs"), json={
            "fencing_token": fencing_token, "lines": lines})
        return result

    def add_progress(self, instance_id: str, fencing_token: int, events: list[JSON]) -> JSON:
        """Progress events: each `{kind, detail}`."""
        result: JSON = self._json("POST", self._job(instance_id, "progress"), json={
            "fencing_token": fencing_token, "events": events})
        return result

    def put_artifact(self, instance_id: str, fencing_token: int, name: str, content: bytes,
                     content_type: str = "application/octet-stream") -> JSON:
        path = "/".join(_segment(part) for part in name.split("/"))
        result: JSON = self._json(
            "PUT", self._job(instance_id, f"artifacts/{path}"), content=content,
            params={"fencing_token": fencing_token}, headers={"Content-Type": content_type})
        return result

    def download_package(self, sha256: str) -> bytes:
        return self._send("GET", f"/api/v1/robot/packages/{_segment(sha256)}").content

    def send_message(self, instance_id: str, name: str,
                     data: Mapping[str, Any] | None = None) -> JSON:
        result: JSON = self._json(
            "POST", f"/api/v1/instances/{_segment(instance_id)}/messages",
            json={"name": name, "data": dict(data or {})})
        return result

    # -- schedules ----------------------------------------------------------------------------

    def create_schedule(self, process_key: str, **fields: Any) -> JSON:
        """A new schedule. `fields` as in the API: cron, timezone, variables, window,
        calendar, max_runs, misfire, ... (datetimes as ISO 8601 text with an offset)."""
        result: JSON = self._json("POST", "/api/v1/schedules",
                                  json={"process_key": process_key, **fields})
        return result

    def get_schedule(self, schedule_id: int) -> JSON:
        result: JSON = self._json("GET", f"/api/v1/schedules/{_segment(schedule_id)}")
        return result

    def list_schedules(self, process_key: str | None = None, enabled: bool | None = None,
                       cursor: str | None = None, limit: int = 50) -> JSON:
        """One page: `{items, next_cursor}`, newest first."""
        params = _params(process_key=process_key, cursor=cursor, limit=limit,
                         enabled=None if enabled is None else str(enabled).lower())
        result: JSON = self._json("GET", "/api/v1/schedules", params=params)
        return result

    def update_schedule(self, schedule_id: int, **changes: Any) -> JSON:
        """Change the given fields; None clears an optional one."""
        result: JSON = self._json("PATCH", f"/api/v1/schedules/{_segment(schedule_id)}",
                                  json=changes)
        return result

    def delete_schedule(self, schedule_id: int) -> None:
        self._send("DELETE", f"/api/v1/schedules/{_segment(schedule_id)}")

    def upcoming(self, schedule_id: int, count: int = 10) -> list[str]:
        """The next fire times, ISO 8601 in UTC."""
        items: list[str] = self._json(
            "GET", f"/api/v1/schedules/{_segment(schedule_id)}/upcoming",
            params={"count": count})["items"]
        return items

    def schedule_runs(self, schedule_id: int, cursor: str | None = None,
                      limit: int = 50) -> JSON:
        """One page of what its fire times became, newest first."""
        result: JSON = self._json("GET", f"/api/v1/schedules/{_segment(schedule_id)}/runs",
                                  params=_params(cursor=cursor, limit=limit))
        return result

    # -- record store -------------------------------------------------------------------------

    def list_records(self, entity: str) -> list[JSON]:
        items: list[JSON] = self._json("GET", f"/api/v1/records/{_segment(entity)}")["items"]
        return items

    def add_record(self, entity: str, data: Mapping[str, Any]) -> JSON:
        result: JSON = self._json("POST", f"/api/v1/records/{_segment(entity)}",
                                  json=dict(data))
        return result

    def get_record(self, entity: str, record_id: str) -> JSON:
        result: JSON = self._json(
            "GET", f"/api/v1/records/{_segment(entity)}/{_segment(record_id)}")
        return result

    def put_record(self, entity: str, record_id: str, data: Mapping[str, Any]) -> JSON:
        result: JSON = self._json(
            "PUT", f"/api/v1/records/{_segment(entity)}/{_segment(record_id)}", json=dict(data))
        return result

    def delete_record(self, entity: str, record_id: str) -> None:
        self._send("DELETE", f"/api/v1/records/{_segment(entity)}/{_segment(record_id)}")

    # -- tokens -------------------------------------------------------------------------------

    def create_token(self, name: str, roles: list[str] | None = None) -> JSON:
        """A new API token; the secret (`token`) is shown only in this answer."""
        result: JSON = self._json("POST", "/api/v1/tokens", json=_params(name=name, roles=roles))
        return result

    def list_tokens(self) -> list[JSON]:
        items: list[JSON] = self._json("GET", "/api/v1/tokens")["items"]
        return items

    def revoke_token(self, token_id: int) -> None:
        self._send("DELETE", f"/api/v1/tokens/{_segment(token_id)}")

    # -- administration -----------------------------------------------------------------------

    def create_account(self, name: str) -> JSON:
        """A new account (system administrators only)."""
        result: JSON = self._json("POST", "/api/v1/accounts", json={"name": name})
        return result

    def create_user(self, login: str, password: str, roles: list[str], name: str = "",
                    email: str = "", account_id: int | None = None) -> JSON:
        body = _params(login=login, password=password, roles=roles, name=name, email=email,
                       account_id=account_id)
        result: JSON = self._json("POST", "/api/v1/users", json=body)
        return result

    def list_users(self) -> list[JSON]:
        items: list[JSON] = self._json("GET", "/api/v1/users")["items"]
        return items

    def get_user(self, user_id: int) -> JSON:
        result: JSON = self._json("GET", f"/api/v1/users/{_segment(user_id)}")
        return result

    def update_user(self, user_id: int, *, name: str | None = None, email: str | None = None,
                    roles: list[str] | None = None, disabled: bool | None = None,
                    password: str | None = None) -> JSON:
        """Change what is given; a new password or disabling ends the user's sessions."""
        body = _params(name=name, email=email, roles=roles, disabled=disabled,
                       password=password)
        result: JSON = self._json("PATCH", f"/api/v1/users/{_segment(user_id)}", json=body)
        return result

    def list_audit(self, cursor: str | None = None, limit: int = 50) -> JSON:
        """One page of the account's security events, newest first: `{items, next_cursor}`."""
        result: JSON = self._json("GET", "/api/v1/audit",
                                  params=_params(cursor=cursor, limit=limit))
        return result
