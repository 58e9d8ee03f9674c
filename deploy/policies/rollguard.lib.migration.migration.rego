# METADATA
# title: Migration helpers
# description: >-
#   Shared helpers for rollguard's schema-migration policies: the statements of
#   the migration file under review (input.artifact, kind MigrationFile), the
#   statements of earlier files of the same change, table-name comparison, the
#   PostgreSQL version parameter and the details every finding carries.
#   Policies pass `input.parameters` in, because the gate binds each policy's
#   parameters in the policy's own source.
# scope: package
package rollguard.lib.migration

# The migration file under review.
file := input.artifact

# Its statements in file order; malformed entries are skipped. A file known to be applied
# already (pending false) has none to judge: it ran before this change and cannot be changed;
# its statements still count as earlier ones for the files after it (statements_before).
statements := [s |
	not applied
	is_array(input.artifact.statements)
	some s in input.artifact.statements
	is_object(s)
	is_number(s.index)
]

# The loader knows the file has run already (--pending-from, --since or --dsn said so).
applied if input.artifact.pending == false

# Only a file the loader marks as contract phase may remove what the old version uses;
# anything else (expand, or no phase at all) is judged as expand.
contract_phase if input.artifact.phase == "contract"

expand_phase if not contract_phase

# Statements of migration files of the same change that run before this one
# (data.rollguard.changeset.migration: the documents of the change's migration artifacts).
earlier_file_statements := [s |
	some doc in changeset_files
	is_number(doc.order)
	is_number(input.artifact.order)
	doc.order < input.artifact.order
	is_array(doc.statements)
	some s in doc.statements
	is_object(s)
]

changeset_files := [doc |
	some doc in data.rollguard.changeset.migration
	is_object(doc)
]

# Statements that run before `stmt`: earlier files of the change, then earlier ones of this file.
statements_before(stmt) := array.concat(earlier_file_statements, [s |
	some s in statements
	s.index < stmt.index
])

# PostgreSQL major version the migrations target (parameter pg_version, default 15).
# Accepts a number or a numeric string such as "9.6" or "16"; anything else is the default.
default_pg_version := 15

pg_version(params) := v if {
	v := params.pg_version
	is_number(v)
} else := n if {
	v := params.pg_version
	is_string(v)
	regex.match(`^[0-9]+(\.[0-9]+)?$`, v)
	n := to_number(v)
} else := default_pg_version

# A table created earlier in this file or in an earlier file of the change known to be pending
# (the loader's judgement): nobody else holds locks on it and no old version reads it.
new_table(s) if s.table_is_new == true

on_existing_table(s) if not new_table(s)

# An earlier file of the change creates the table, but whether that file has run already is
# unknown (nobody said which files are pending), so the table is judged as existing.
created_by_unconfirmed_file(s) if {
	not new_table(s)
	is_string(s.table_created_in.file)
	s.table_created_in.pending == null
}

# The message of a finding on a table judged as existing, telling the user when that is only
# because nobody said the file that creates the table is pending.
message(s, text) := sprintf(
	"%s (%s is created by %s, which is not known to be pending, so it is judged as existing; say which migrations have not run yet with --pending-from, --since or --dsn)",
	[text, table_display(s), s.table_created_in.file],
) if {
	created_by_unconfirmed_file(s)
} else := text

# Names compare without quotes, case and the default `public.` schema.
name_key(name) := trim_prefix(lower(replace(name, `"`, "")), "public.")

same_name(a, b) if {
	is_string(a)
	is_string(b)
	name_key(a) == name_key(b)
}

# Tables created by a CREATE TABLE in this file or an earlier file of the change known to be pending.
created_tables := {name_key(s.table) |
	some s in array.concat(pending_earlier_file_statements, statements)
	s.operation == "create_table"
	is_string(s.table)
}

pending_earlier_file_statements := [s |
	some doc in changeset_files
	doc.pending == true
	is_number(doc.order)
	is_number(input.artifact.order)
	doc.order < input.artifact.order
	is_array(doc.statements)
	some s in doc.statements
	is_object(s)
]

created_in_change(name) if {
	is_string(name)
	name_key(name) in created_tables
}

# Base details of a finding about statement `s`: the gate reports it at `line`; with the file
# that creates the table when that file is not known to be pending.
details(s) := object.union(base_details(s), {"table_created_in": s.table_created_in.file}) if {
	created_by_unconfirmed_file(s)
} else := base_details(s)

base_details(s) := {
	"line": object.get(s, "line", null),
	"statement": s.index,
	"operation": object.get(s, "operation", null),
	"table": object.get(s, "table", null),
}

# `table "users"`, or `a table` when the statement names none.
table_display(s) := sprintf("table %q", [s.table]) if is_string(s.table) else := "a table"

column_display(s) := sprintf("column %q", [s.column]) if is_string(s.column) else := "a column"

# A setting that is in force: set, and not 0 (which PostgreSQL reads as "no limit").
setting_in_force(value) if {
	is_string(value)
	not trim_space(value) in {"", "0", "'0'", "0ms", "0s", "'0ms'", "'0s'"}
}

setting_in_force(value) if {
	is_number(value)
	value > 0
}

# Parameter `name` as a list of strings; `fallback` when missing or malformed.
string_list(params, name, fallback) := [x | some x in params[name]; is_string(x)] if {
	is_array(params[name])
} else := fallback

# Name of the index a CREATE INDEX, DROP INDEX or REINDEX statement is about; null when unknown.
index_name(s) := s.object if {
	s.operation in {"create_index", "drop_index", "reindex"}
	is_string(s.object)
} else := null

# The object a statement names besides tables (view, type, schema, database, index), else its table.
object_name(s) := s.object if is_string(s.object) else := s.table

# `ADD COLUMN` for add_column: how messages name a statement's operation.
operation_display(s) := upper(replace(s.operation, "_", " ")) if is_string(s.operation) else := "a statement"
