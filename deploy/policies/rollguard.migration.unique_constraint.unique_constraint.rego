# METADATA
# title: Unique constraints and primary keys use a concurrently built index
# description: >-
#   ADD CONSTRAINT ... UNIQUE or PRIMARY KEY builds its index while holding an
#   ACCESS EXCLUSIVE lock, so every read and write of both running versions waits
#   until the index is built. Build a unique index with CREATE UNIQUE INDEX
#   CONCURRENTLY first and attach it with ADD CONSTRAINT ... USING INDEX, which
#   is instant. USING INDEX of an index this file builds without CONCURRENTLY is
#   reported as well; an index built outside the file is trusted. A column added
#   with an inline UNIQUE or PRIMARY KEY is judged the same way. Tables created
#   earlier in the same file or in a pending file of the change are not judged.
#   High: the index build holds an ACCESS EXCLUSIVE lock, blocking every read
#   and write of both versions until it finishes.
# scope: package
# custom:
#   id: migration.unique_constraint
#   severity: high
#   controls: ["SOC2:CC8.1", "SOC2:A1.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     CREATE UNIQUE INDEX CONCURRENTLY the index (outside a transaction), then
#     ALTER TABLE ... ADD CONSTRAINT name UNIQUE USING INDEX index_name (or
#     PRIMARY KEY USING INDEX).
#   applies_to: [MigrationFile]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     CREATE UNIQUE INDEX CONCURRENTLY users_email_key_idx ON users (email);
#     ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key_idx;
#   example_disallowed: |
#     ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
package rollguard.migration.unique_constraint

import data.rollguard.lib.migration

kinds := {"unique": "UNIQUE", "primary_key": "PRIMARY KEY"}

violation contains {"msg": msg, "details": d} if {
	some s in constraints
	kind := kinds[s.constraint.type]
	not is_string(s.constraint.using_index)
	d := object.union(migration.details(s), {"constraint": object.get(s.constraint, "name", null), "constraint_type": s.constraint.type})
	msg := migration.message(s, sprintf(
		"adding the %s constraint%s to %s builds its index under an ACCESS EXCLUSIVE lock, blocking reads and writes",
		[kind, constraint_display(s), migration.table_display(s)],
	))
}

violation contains {"msg": msg, "details": d} if {
	some s in constraints
	kind := kinds[s.constraint.type]
	name := s.constraint.using_index
	is_string(name)
	some i in migration.statements_before(s)
	i.operation == "create_index"
	migration.same_name(migration.index_name(i), name)
	not i.concurrently == true
	d := object.union(migration.details(s), {
		"constraint": object.get(s.constraint, "name", null),
		"constraint_type": s.constraint.type,
		"using_index": name,
		"index_line": object.get(i, "line", null),
	})
	msg := migration.message(s, sprintf(
		"the %s constraint%s uses index %q, which this migration builds without CONCURRENTLY",
		[kind, constraint_display(s), name],
	))
}

constraints contains s if {
	some s in migration.statements
	s.operation in {"add_constraint", "add_column"}
	is_object(s.constraint)
	migration.on_existing_table(s)
}

constraint_display(s) := sprintf(" %q", [s.constraint.name]) if is_string(s.constraint.name) else := ""
