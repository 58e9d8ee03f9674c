# METADATA
# title: Foreign keys and checks on existing tables are added NOT VALID
# description: >-
#   ADD CONSTRAINT ... FOREIGN KEY or CHECK validates every existing row while
#   holding a lock that blocks writes (a FOREIGN KEY also locks the referenced
#   table), so both running versions stall for the length of the scan. Added
#   NOT VALID, the constraint applies to new rows at once and VALIDATE
#   CONSTRAINT checks old rows later under a lock that lets reads and writes
#   through. That only helps when the VALIDATE commits separately: a VALIDATE
#   in the same transaction as its ADD keeps the ADD's lock for the whole scan
#   and is reported too. A column added with an inline REFERENCES or CHECK is
#   judged the same way (it cannot be NOT VALID). Tables created earlier in the
#   same file or in a pending file of the change are not judged. High: the
#   validating scan blocks writes of both running versions (and to the
#   referenced table) for as long as it takes, an outage on a large table.
# scope: package
# custom:
#   id: migration.constraint_not_valid
#   severity: high
#   controls: ["SOC2:CC8.1", "SOC2:A1.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Add the constraint with NOT VALID, commit, then run ALTER TABLE ...
#     VALIDATE CONSTRAINT in its own transaction (a separate migration, or after
#     a COMMIT). For a new column, add the column first and the constraint NOT
#     VALID in a second statement.
#   applies_to: [MigrationFile]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     ALTER TABLE orders ADD CONSTRAINT orders_customer_fk
#       FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;
#     COMMIT;
#     ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;
#   example_disallowed: |
#     ALTER TABLE orders ADD CONSTRAINT orders_customer_fk
#       FOREIGN KEY (customer_id) REFERENCES customers (id);
package rollguard.migration.constraint_not_valid

import data.rollguard.lib.migration

kinds := {"foreign_key": "FOREIGN KEY", "check": "CHECK"}

violation contains {"msg": msg, "details": d} if {
	some s in migration.statements
	s.operation in {"add_constraint", "add_column"}
	kind := kinds[s.constraint.type]
	not s.constraint.not_valid == true
	migration.on_existing_table(s)
	d := object.union(migration.details(s), {"constraint": object.get(s.constraint, "name", null), "constraint_type": s.constraint.type})
	msg := migration.message(s, sprintf(
		"adding the %s constraint%s to %s without NOT VALID checks every existing row while blocking writes",
		[kind, constraint_display(s), migration.table_display(s)],
	))
}

violation contains {"msg": msg, "details": d} if {
	some s in migration.statements
	s.operation == "validate_constraint"
	is_number(s.transaction)
	some a in migration.statements
	a.index < s.index
	a.operation == "add_constraint"
	a.transaction == s.transaction
	migration.same_name(a.table, s.table)
	migration.same_name(a.constraint.name, s.constraint.name)
	d := object.union(migration.details(s), {
		"constraint": s.constraint.name,
		"transaction": s.transaction,
		"added_at_line": object.get(a, "line", null),
	})
	msg := sprintf(
		"VALIDATE CONSTRAINT %q runs in the same transaction as its ADD, so the ADD's lock blocks writes to %s for the whole validation",
		[s.constraint.name, migration.table_display(s)],
	)
}

constraint_display(s) := sprintf(" %q", [s.constraint.name]) if is_string(s.constraint.name) else := ""
