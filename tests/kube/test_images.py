"""One image-reference parser: every reader of a reference splits it the same way."""

from __future__ import annotations

import pytest

from rollguard.kube.images import ImageRef, is_valid_reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("reference", "name", "tag", "digest"),
    [
        ("reg:5000/shop/web:2.4.1@sha256:ab", "reg:5000/shop/web", "2.4.1", "sha256:ab"),
        ("reg:5000/shop/web", "reg:5000/shop/web", None, None),
        ("web@sha256:ab", "web", None, "sha256:ab"),
        ("web:1", "web", "1", None),
        ("registry.example.com/shop/checkout:2.4.1", "registry.example.com/shop/checkout", "2.4.1", None),
        (f"registry.example.com:5000/checkout:v2@{DIGEST}", "registry.example.com:5000/checkout", "v2", DIGEST),
        ("checkout", "checkout", None, None),
        ("checkout:", "checkout", None, None),
        ("checkout@", "checkout", None, None),
    ],
)
def test_parse_splits_without_inventing_parts(reference: str, name: str, tag: str | None, digest: str | None) -> None:
    assert ImageRef.parse(reference) == ImageRef(name=name, tag=tag, digest=digest)


def test_derived_parts() -> None:
    ref = ImageRef.parse("reg:5000/shop/api@sha512:" + "b" * 128)
    assert (ref.short_name, ref.effective_tag, ref.sha256) == ("api", "latest", None)
    pinned = ImageRef.parse(f"reg/shop/api:1.4@{DIGEST}")
    assert (pinned.short_name, pinned.effective_tag, pinned.sha256) == ("api", "1.4", DIGEST)


def test_parsed_references_are_frozen() -> None:
    ref = ImageRef.parse("web:1")
    with pytest.raises(AttributeError):
        ref.tag = "2"  # type: ignore[misc]


@pytest.mark.parametrize(
    "reference",
    ["nginx", "nginx:1.27", f"ghcr.io/org/app@{DIGEST}", "localhost:5000/a/b-c__d:v1.2", "[::1]:5000/web:1"],
)
def test_valid_references(reference: str) -> None:
    assert is_valid_reference(reference)


@pytest.mark.parametrize(
    "reference",
    ["", "--config=/etc/passwd", "Nginx", "web:-1", "web@sha256:short", "a b", "web:1\n", "/web", "r/" + "a" * 256],
)
def test_invalid_references(reference: str) -> None:
    assert not is_valid_reference(reference)
