"""Scanners rollguard runs itself (Trivy), turning their reports into change-set inputs."""
