"""The real PostgreSQL server of the audit tests, shared with the migration proof tests."""

from tests.audit.conftest import postgres_server, postgres_url  # noqa: F401
