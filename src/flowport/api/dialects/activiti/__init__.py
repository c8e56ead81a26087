"""The Activiti-style orchestration API: /process and /task (seed 004, contracts/activiti.md)."""

from flowport.api.dialects.activiti.routes import install

__all__ = ["install"]
