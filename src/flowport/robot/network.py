"""Calls to the server that survive network errors and server restarts: retried with a
jittered, growing backoff until they succeed, the server refuses them for good (a 4xx), or the
agent gives up (it is being killed)."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import TypeVar

import httpx

from flowport.client import ApiError

T = TypeVar("T")
# Answers that say "try again later" rather than "no".
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


class GaveUp(Exception):
    """The agent stopped while a call was still being retried."""


def transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, ApiError) and exc.status in RETRYABLE


def retrying(call: Callable[[], T], *, what: str, log: logging.Logger,
             give_up: threading.Event, first_delay: float = 0.5,
             max_delay: float = 30.0) -> T:
    delay = first_delay
    while True:
        try:
            return call()
        except (httpx.TransportError, ApiError) as exc:
            if not transient(exc):
                raise
            problem = str(exc) or type(exc).__name__
        log.warning("%s failed (%s); trying again in %.1f s", what, problem, delay)
        if give_up.wait(delay * random.uniform(0.8, 1.2)):
            raise GaveUp(what)
        delay = min(delay * 2, max_delay)
