"""Fixtures of the canary tests: one real Prometheus per session, shared by every module that asks."""

from __future__ import annotations

from .prometheus import live_prometheus

__all__ = ["live_prometheus"]  # the fixture, imported for pytest to find
