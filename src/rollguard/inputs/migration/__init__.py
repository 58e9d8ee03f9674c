"""SQL schema migrations: order the files as the migration tools do and normalise every statement into facts.

`lexer` splits the text, `statements` (with `alter` and the `commands` fallback) turns each statement
into `facts`, and `files` orders the files and builds their documents.
"""

from __future__ import annotations

from rollguard.inputs.migration.alter import NON_VOLATILE_FUNCTIONS, VOLATILE_FUNCTIONS
from rollguard.inputs.migration.facts import OPERATIONS
from rollguard.inputs.migration.files import (
    API_VERSION,
    DIALECTS,
    KIND,
    SQL_LIMIT,
    TOOLS,
    decode_sql,
    load_migrations,
    migration_ref,
    read_sql_file,
)
from rollguard.inputs.migration.lexer import Unterminated, find_unterminated, split_statements, sql_segments

__all__ = [
    "API_VERSION",
    "DIALECTS",
    "KIND",
    "NON_VOLATILE_FUNCTIONS",
    "OPERATIONS",
    "SQL_LIMIT",
    "TOOLS",
    "VOLATILE_FUNCTIONS",
    "Unterminated",
    "decode_sql",
    "find_unterminated",
    "load_migrations",
    "migration_ref",
    "read_sql_file",
    "split_statements",
    "sql_segments",
]
