# METADATA
# title: Every statement of a migration can be judged
# description: >-
#   A statement the loader could not classify (operation unknown) or a DO block
#   (procedural code) may take any lock and change any data, and no other
#   migration policy can judge it. Each one needs a human review before it runs
#   during a rolling deployment. Medium because an unjudged statement is an
#   unknown risk, not a known harm: it asks for a human review, which a waiver
#   records.
# scope: package
# custom:
#   id: migration.unknown_statement
#   severity: medium
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Review what the statement locks and changes, then split it into plain
#     statements rollguard can judge, or waive this finding for the file with
#     the reviewer's reason.
#   applies_to: [MigrationFile]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     ALTER TABLE users ADD COLUMN nickname text;
#   example_disallowed: |
#     DO $$ BEGIN PERFORM rebuild_search_index(); END $$;
package rollguard.migration.unknown_statement

import data.rollguard.lib.migration

violation contains {"msg": msg, "details": d} if {
	some s in migration.statements
	s.operation == "unknown"
	d := object.union(migration.details(s), {"parser": object.get(s, "parser", null), "sql": excerpt(s)})
	msg := sprintf("statement %q could not be classified; review what it locks and changes", [excerpt(s)])
}

violation contains {"msg": msg, "details": d} if {
	some s in migration.statements
	s.operation == "do_block"
	d := object.union(migration.details(s), {"parser": object.get(s, "parser", null), "sql": excerpt(s)})
	msg := "a DO block runs procedural code that no policy can judge; review what it locks and changes"
}

# The first line of the statement, at most 80 characters.
excerpt(s) := e if {
	is_string(s.sql)
	first := split(trim_space(s.sql), "\n")[0]
	e := first_chars(first, 80)
} else := ""

first_chars(text, n) := text if count(text) <= n else := concat("", [substring(text, 0, n - 3), "..."])
