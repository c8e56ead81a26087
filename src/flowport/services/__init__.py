"""Use cases. One function per use case, one transaction per call; each takes the `Context`,
the calling `Principal` and one typed input object that every front door (native API,
dialects, CLI) builds the same way."""

from flowport.services.context import Context

__all__ = ["Context"]
