"""Creatio's ProcessEngineService.svc and AuthService.svc (seed 002, contracts/creatio.md)."""

from flowport.api.dialects.creatio.routes import install

__all__ = ["install"]
