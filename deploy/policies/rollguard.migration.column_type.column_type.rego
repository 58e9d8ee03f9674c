# METADATA
# title: Column type changes do not rewrite tables
# description: >-
#   ALTER COLUMN ... TYPE takes an ACCESS EXCLUSIVE lock and, for most changes,
#   rewrites the whole table (and its indexes) while holding it, so every query
#   of both versions waits; the old version may also fail on the new type.
#   PostgreSQL skips the rewrite only for binary-compatible changes: varchar(n)
#   or varchar to text or to varchar without a length, varchar(n) to a longer
#   varchar(m), and numeric(p,s) to numeric(q,s) with q >= p or to numeric. A
#   statement only says the target type, so a change is accepted only when the
#   column's current type is known from an earlier statement of the change (the
#   ADD COLUMN that created it, or an earlier type change) and the pair is one of
#   those; a USING clause counts as a rewrite. Tables created earlier in the same
#   file or in a pending file of the change are not judged. High: a rewriting
#   type change blocks every query of both versions for the length of the
#   rewrite, and the old version may fail on the new type.
# scope: package
# custom:
#   id: migration.column_type
#   severity: high
#   controls: ["SOC2:CC8.1", "SOC2:A1.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Add a column of the new type, write both columns from the new version,
#     backfill in batches, switch reads, and drop the old column in a contract
#     migration. Widening varchar or numeric precision, or varchar to text, is
#     safe: state the current type in the same change, or waive the finding with
#     the reason.
#   applies_to: [MigrationFile]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     ALTER TABLE users ADD COLUMN nickname varchar(50);
#     ALTER TABLE users ALTER COLUMN nickname TYPE varchar(100);
#   example_disallowed: |
#     ALTER TABLE orders ALTER COLUMN total TYPE bigint;
package rollguard.migration.column_type

import data.rollguard.lib.migration

violation contains {"msg": msg, "details": d} if {
	some s in migration.statements
	s.operation == "alter_column_type"
	migration.on_existing_table(s)
	to := target_type(s)
	not safe_change(s, to)
	from := object.get(previous_types, s.index, null)
	d := object.union(migration.details(s), {
		"column": object.get(s, "column", null),
		"type_from": from,
		"type_to": to,
		"using": object.get(s, ["type_change", "using"], false),
	})
	msg := migration.message(s, message(s, from, to))
}

message(s, from, to) := sprintf(
	"changing the type of %s of %s from %s to %s rewrites the table under an ACCESS EXCLUSIVE lock, blocking both versions",
	[migration.column_display(s), migration.table_display(s), from, to],
) if {
	is_string(from)
} else := sprintf(
	"changing the type of %s of %s to %s may rewrite the table under an ACCESS EXCLUSIVE lock, blocking both versions (its current type is not known from this change)",
	[migration.column_display(s), migration.table_display(s), to],
)

target_type(s) := s.type_change.to if is_string(s.type_change.to) else := "an unknown type"

# Statement index → the column's type before it, when an earlier statement of the change sets it.
previous_types[i] := t if {
	some s in migration.statements
	s.operation == "alter_column_type"
	i := s.index
	known := [x |
		some p in migration.statements_before(s)
		migration.same_name(p.table, s.table)
		migration.same_name(p.column, s.column)
		x := declared_type(p)
	]
	count(known) > 0
	t := known[count(known) - 1]
}

declared_type(p) := p.column_def.type if {
	p.operation == "add_column"
	is_string(p.column_def.type)
}

declared_type(p) := p.type_change.to if {
	p.operation == "alter_column_type"
	is_string(p.type_change.to)
}

safe_change(s, to) if {
	not s.type_change.using == true
	from := previous_types[s.index]
	binary_compatible(normalized(from), normalized(to))
}

# Lower case, no spaces, SQL-standard spellings folded onto PostgreSQL's.
normalized(t) := replace(replace(replace(lower(t), "character varying", "varchar"), "decimal", "numeric"), " ", "")

binary_compatible(from, to) if from == to

binary_compatible(from, "text") if varchar_like(from)

binary_compatible(from, "varchar") if varchar_like(from)

binary_compatible(from, to) if varchar_length(to) >= varchar_length(from)

binary_compatible(from, "numeric") if numeric_precision(from)

binary_compatible(from, to) if {
	[p, scale] := numeric_precision(from)
	[q, new_scale] := numeric_precision(to)
	new_scale == scale
	q >= p
}

varchar_like(t) if t in {"text", "varchar"}

varchar_like(t) if varchar_length(t)

varchar_length(t) := to_number(n) if {
	startswith(t, "varchar(")
	n := trim_suffix(trim_prefix(t, "varchar("), ")")
	regex.match(`^[0-9]+$`, n)
}

# [precision, scale] of numeric(p) or numeric(p,s); a missing scale is 0.
numeric_precision(t) := [to_number(parts[0]), numeric_scale(parts)] if {
	startswith(t, "numeric(")
	parts := split(trim_suffix(trim_prefix(t, "numeric("), ")"), ",")
	count(parts) in {1, 2}
	every part in parts {
		regex.match(`^[0-9]+$`, part)
	}
}

numeric_scale(parts) := to_number(parts[1]) if count(parts) == 2 else := 0
