"""What an input's name and text must show before a content-detected reader is even imported.

Each test here is a necessary condition of its reader's own detection (`pipeline.is_pipeline`,
`terraform.is_plan` call them first), cheap enough to ask of every file. A manifest-only change
then never imports the pipeline or Terraform readers.
"""

from __future__ import annotations

import re

# Keys a GitHub workflow or GitLab CI file has and most manifests do not.
_PIPELINE_KEYS = re.compile(r"^(?:jobs|stages)\s*:|^[ \t]+(?:script|extends|trigger)\s*:", re.M)


def is_pipeline_name(name: str) -> bool:
    """Where pipeline definitions live: `.gitlab-ci.yml` and `.github/workflows/`."""
    posix = name.replace("\\", "/")
    return (
        posix.endswith(".gitlab-ci.yml") or posix.endswith(".gitlab-ci.yaml") or "/.github/workflows/" in ("/" + posix)
    )


def might_be_pipeline(name: str, text: str) -> bool:
    """False when the input cannot be a pipeline definition; True when it has to be parsed to tell."""
    if name.lower().endswith((".json", ".sql")):
        return False
    return is_pipeline_name(name) or _PIPELINE_KEYS.search(text) is not None


def might_be_plan(text: str) -> bool:
    """False when the input cannot be a Terraform JSON plan (an object naming `format_version`)."""
    stripped = text.lstrip("\ufeff \t\r\n")
    return stripped.startswith("{") and '"format_version"' in stripped
