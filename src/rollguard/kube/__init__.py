"""Kubernetes knowledge rollguard needs in several places, kept in one: the kinds and their APIs."""
