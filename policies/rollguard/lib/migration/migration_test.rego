package rollguard.lib.migration_test

import data.rollguard.lib.migration

# A statement as the loader builds it: every field present, `fields` set.
stmt(index, fields) := object.union(
	{
		"index": index,
		"line": index + 1,
		"sql": "",
		"operation": "unknown",
		"statement_kind": null,
		"table": null,
		"object": null,
		"column": null,
		"new_name": null,
		"columns": [],
		"column_def": null,
		"type_change": null,
		"constraint": null,
		"concurrently": false,
		"cascade": false,
		"if_exists": false,
		"where": false,
		"setting": null,
		"is_ddl": false,
		"in_transaction": false,
		"transaction": null,
		"table_is_new": false,
		"table_created_in": null,
		"lock_timeout": null,
		"statement_timeout": null,
		"parser": "sqlglot",
		"observed": null,
	},
	fields,
)

# A Flyway expand-phase file holding `stmts`.
migration_file(stmts) := {
	"apiVersion": "rollguard.io/v1",
	"kind": "MigrationFile",
	"metadata": {"name": "V7__accounts.sql"},
	"file": "V7__accounts.sql",
	"tool": "flyway",
	"version": "7",
	"description": "accounts",
	"order": 1,
	"pending": null,
	"pending_by": null,
	"phase": "expand",
	"dialect": "postgres",
	"transactional": true,
	"statements": stmts,
}

contract_file(stmts) := object.union(migration_file(stmts), {"phase": "contract"})

# The policy input for one file, as the gate builds it.
judge(doc, parameters) := {"artifact": doc, "parameters": parameters}

test_statements_skip_malformed_entries if {
	doc := migration_file([stmt(0, {}), "ALTER TABLE", {"sql": "no index"}, stmt(1, {})])
	[s.index | some s in migration.statements] == [0, 1] with input as judge(doc, {})
	count(migration.statements) == 0 with input as judge(object.union(doc, {"statements": null}), {})
}

test_phase_is_expand_unless_contract if {
	migration.expand_phase with input as judge(migration_file([]), {})
	migration.expand_phase with input as judge(object.remove(migration_file([]), ["phase"]), {})
	not migration.expand_phase with input as judge(contract_file([]), {})
}

test_pg_version_parameter if {
	migration.pg_version({}) == 15
	migration.pg_version({"pg_version": 11}) == 11
	migration.pg_version({"pg_version": "9.6"}) == 9.6
	migration.pg_version({"pg_version": "sixteen"}) == 15
	migration.pg_version({"pg_version": null}) == 15
}

test_names_compare_without_quotes_case_and_public_schema if {
	migration.same_name(`"Users"`, "public.users")
	migration.same_name("app.users", "APP.users")
	not migration.same_name("app.users", "users")
	not migration.same_name(null, "users")
}

test_statements_before_include_earlier_files_of_the_change if {
	create_audit := migration_file([stmt(0, {"operation": "create_table", "table": "audit"})])
	earlier := object.union(create_audit, {"order": 0, "pending": true, "pending_by": "pending_from"})
	later := object.union(migration_file([stmt(0, {"operation": "create_table", "table": "late"})]), {"order": 2})
	doc := migration_file([stmt(0, {"operation": "add_column"}), stmt(1, {"operation": "drop_column"})])
	before := migration.statements_before(stmt(1, {})) with input as judge(doc, {})
		with data.rollguard.changeset.migration as [earlier, later]
	[s.operation | some s in before] == ["create_table", "add_column"]
	migration.created_in_change("audit") with input as judge(doc, {})
		with data.rollguard.changeset.migration as {"a": earlier}
	not migration.created_in_change("late") with input as judge(doc, {})
		with data.rollguard.changeset.migration as [earlier, later]
}

test_only_pending_files_create_tables_in_the_change if {
	create_audit := migration_file([stmt(0, {"operation": "create_table", "table": "audit"})])
	doc := migration_file([stmt(0, {"operation": "add_column", "table": "audit"})])
	applied := object.union(create_audit, {"order": 0, "pending": false, "pending_by": "since"})
	unknown := object.union(create_audit, {"order": 0})
	not migration.created_in_change("audit") with input as judge(doc, {}) with data.rollguard.changeset.migration as [applied]
	not migration.created_in_change("audit") with input as judge(doc, {}) with data.rollguard.changeset.migration as [unknown]

	# Earlier in the same file always counts.
	same_file := migration_file([stmt(0, {"operation": "create_table", "table": "audit"}), stmt(1, {"operation": "add_column", "table": "audit"})])
	migration.created_in_change("audit") with input as judge(same_file, {})
}

test_applied_files_have_no_statements_to_judge if {
	doc := migration_file([stmt(0, {"operation": "drop_column", "table": "users"})])
	count(migration.statements) == 0 with input as judge(object.union(doc, {"pending": false, "pending_by": "history"}), {})
	count(migration.statements) == 1 with input as judge(object.union(doc, {"pending": true, "pending_by": "history"}), {})
	count(migration.statements) == 1 with input as judge(doc, {})
}

test_a_table_from_a_file_not_known_to_be_pending_is_explained if {
	s := stmt(2, {
		"operation": "drop_column", "table": "users", "line": 4,
		"table_created_in": {"file": "V1__users.sql", "pending": null},
	})
	migration.on_existing_table(s)
	migration.message(s, "text") == `text (table "users" is created by V1__users.sql, which is not known to be pending, so it is judged as existing; say which migrations have not run yet with --pending-from, --since or --dsn)`
	migration.details(s) == {"line": 4, "statement": 2, "operation": "drop_column", "table": "users", "table_created_in": "V1__users.sql"}

	# Known to have run already: the table exists, nothing to explain.
	applied := object.union(s, {"table_created_in": {"file": "V1__users.sql", "pending": false}})
	migration.message(applied, "text") == "text"
	migration.details(applied) == {"line": 4, "statement": 2, "operation": "drop_column", "table": "users"}

	# Created earlier in this file (or a pending one): new, and not judged at all.
	new := object.union(s, {"table_is_new": true, "table_created_in": {"file": "V7__accounts.sql", "pending": null}})
	not migration.on_existing_table(new)
	migration.message(new, "text") == "text"
}

test_details_name_line_statement_operation_and_table if {
	migration.details(stmt(3, {"operation": "drop_column", "table": "users", "line": 12})) == {
		"line": 12,
		"statement": 3,
		"operation": "drop_column",
		"table": "users",
	}
}

test_setting_in_force if {
	migration.setting_in_force("5s")
	migration.setting_in_force(5000)
	not migration.setting_in_force("0")
	not migration.setting_in_force(0)
	not migration.setting_in_force(null)
}

test_displays if {
	migration.table_display(stmt(0, {"table": "users"})) == `table "users"`
	migration.table_display(stmt(0, {})) == "a table"
	migration.column_display(stmt(0, {"column": "email"})) == `column "email"`
	migration.operation_display(stmt(0, {"operation": "add_column"})) == "ADD COLUMN"
}

test_index_and_object_names if {
	migration.index_name(stmt(0, {"operation": "drop_index", "object": "users_email_idx"})) == "users_email_idx"
	migration.index_name(stmt(0, {"operation": "drop_view", "object": "v"})) == null
	migration.object_name(stmt(0, {"operation": "create_view", "object": "customers"})) == "customers"
	migration.object_name(stmt(0, {"operation": "drop_table", "table": "users"})) == "users"
}
