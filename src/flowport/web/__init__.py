"""The web console: server-rendered pages over the same services as the native API, at `/`."""

from flowport.web.site import install

__all__ = ["install"]
