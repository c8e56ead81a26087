"""The e2e fixtures (a real `flowport serve` over each database, a cuttable proxy in front of
PostgreSQL) serve the battery too."""

from tests.e2e.conftest import proxy, server_factory

__all__ = ["proxy", "server_factory"]
