"""Compliance: the hash-chained decision store, audit reports and live-cluster audits."""
