"""Container image references: one parser for every reader, and the strict grammar for scanners."""

from __future__ import annotations

import re
from dataclasses import dataclass

# An image reference as registries and the container runtime read it, kept strict on purpose:
# `[registry[:port]/]path[:tag][@algorithm:hex]`. Every part starts with a letter or digit,
# so nothing that matches can be read as an option by a program it is handed to.
_DOMAIN_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9A-Fa-f:]+\])(?::[0-9]{{1,5}})?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?", re.ASCII
)
# The reference grammar caps the repository name (registry and path) at 255 characters.
_MAX_NAME = 255


@dataclass(frozen=True)
class ImageRef:
    """An image reference split as written: `name` (registry and path), `tag` and `digest`.

    `parse` never fails and never invents a part: a reference without a tag has tag None (the
    runtime pulls `latest`; `effective_tag` says so). `valid` tells whether it is well formed.
    """

    name: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, reference: str) -> ImageRef:
        """Split `registry:5000/shop/web:2.4.1@sha256:...` into name, tag and digest."""
        name, at, digest = reference.partition("@")
        slash = name.rfind("/")
        colon = name.rfind(":")
        tag: str | None = None
        if colon > slash:  # a ":" before the last "/" is a registry port
            name, tag = name[:colon], name[colon + 1 :] or None
        return cls(name=name, tag=tag, digest=(digest or None) if at else None)

    @property
    def short_name(self) -> str:
        """The last path component: `api` for `reg/shop/api:1.4`."""
        return self.name.rsplit("/", 1)[-1]

    @property
    def effective_tag(self) -> str:
        """The tag the runtime pulls: the given one, else `latest`."""
        return self.tag or "latest"

    @property
    def sha256(self) -> str | None:
        """`sha256:...` when the reference is pinned by a sha256 digest, else None."""
        return self.digest if self.digest and self.digest.startswith("sha256:") else None


def is_valid_reference(reference: str) -> bool:
    """Whether `reference` is a well-formed image reference by the registries' grammar."""
    name = ImageRef.parse(reference).name
    return _REFERENCE.fullmatch(reference) is not None and len(name) <= _MAX_NAME
