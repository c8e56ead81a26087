"""Domain errors. Services raise these; the HTTP edge maps each class to one status code.

    FlowportError
    ├── BadInput             400/422  the request is malformed; carries the offending field
    │   ├── InvalidDefinition         a BPMN or package is rejected at upload (carries element id)
    │   ├── InvalidParameters         launch variables do not match the declared parameters
    │   └── InvalidSchedule           a schedule's cron, zone, dates or limits are wrong (422)
    ├── Unauthenticated      401      no or bad credentials
    ├── Forbidden            403      authenticated, but the role does not allow it
    ├── NotFound             404      unknown, deleted, or another account's object
    │   └── UnknownIds                some ids of a batch name nothing (carries them)
    ├── Conflict             409      the object exists but is in the wrong state
    │   ├── InvalidTransition         the status table forbids the move
    │   ├── ElementNotWaiting         completing an element that is not waiting
    │   ├── RevisionConflict          a concurrent writer advanced the instance first
    │   └── StaleLease                a robot reports on a job whose lease it no longer holds
    ├── TooLarge             413      a body, file or value over its limit
    ├── TooManyRequests      429      throttled; carries retry_after seconds
    └── Unavailable          503      the database is out of reach

Engine failures inside a running instance (a script error, say) are not exceptions at this level:
they end the instance `failed` with its error recorded.
"""

from __future__ import annotations


class FlowportError(Exception):
    """Base of every error a service may raise on purpose."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadInput(FlowportError):
    code = "bad_input"


class InvalidDefinition(BadInput):
    code = "invalid_definition"

    def __init__(self, message: str, *, element_id: str | None = None) -> None:
        super().__init__(message, field=element_id)
        self.element_id = element_id


class InvalidParameters(BadInput):
    code = "invalid_parameters"


class InvalidSchedule(BadInput):
    code = "invalid_schedule"


class Unauthenticated(FlowportError):
    code = "unauthenticated"


class Forbidden(FlowportError):
    code = "forbidden"


class NotFound(FlowportError):
    code = "not_found"


class UnknownIds(NotFound):
    code = "unknown_ids"

    def __init__(self, what: str, ids: list[str | int]) -> None:
        super().__init__(f"no {what} {', '.join(repr(i) for i in ids)}")
        self.ids = ids


class Conflict(FlowportError):
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class ElementNotWaiting(Conflict):
    code = "element_not_waiting"


class RevisionConflict(Conflict):
    code = "revision_conflict"


class StaleLease(Conflict):
    code = "stale_lease"


class TooLarge(FlowportError):
    code = "too_large"


class TooManyRequests(FlowportError):
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(FlowportError):
    code = "unavailable"
