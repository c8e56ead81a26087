"""Persistence: one SQLAlchemy Core implementation for SQLite and PostgreSQL."""

from flowport.store.base import Duplicate, Page, Savepoint
from flowport.store.instances import ElementChange
from flowport.store.jobs import Artifact, LogLine
from flowport.store.sql import Store, Tx

__all__ = ["Artifact", "Duplicate", "ElementChange", "LogLine", "Page", "Savepoint", "Store",
           "Tx"]
