"""The e2e fixtures (a real `flowport serve` over each database) serve the battery too."""

from tests.e2e.conftest import server_factory

__all__ = ["server_factory"]
