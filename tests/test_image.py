"""The container image (Dockerfile, .dockerignore, `make image`) and `webhook manifest --image`, which deploys it."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from rollguard.cli import main
from rollguard.kube.images import ImageRef, is_valid_reference
from rollguard.webhook.certs import issue_certificates, write_certificates
from rollguard.webhook.manifest import PLACEHOLDER_IMAGE

from .conftest import ROOT

DEPLOY = ROOT / "deploy"
VERSION = metadata.version("rollguard")
PINNED = f"registry.example.com/platform/rollguard:{VERSION}@sha256:{'4f1c' * 16}"
BUILDERS = ("docker", "podman", "buildah")


# --- the Dockerfile ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


@dataclass(frozen=True)
class Stage:
    base: str  # the FROM image with the global ARG defaults filled in
    name: str | None
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]


def _instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    found: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        found.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return found


def _stages() -> tuple[dict[str, str], list[Stage]]:
    """The global ARG defaults and the build stages, in order."""
    global_args: dict[str, str] = {}
    stages: list[tuple[str, str | None, list[Instruction]]] = []
    for ins in _instructions((ROOT / "Dockerfile").read_text()):
        if ins.keyword == "FROM":
            words = ins.args.split()
            assert not any(w.startswith("--") for w in words), f"FROM with options: {ins.args}"
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: global_args[m.group(1) or m.group(2)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            assert len(words) in (1, 3), f"unexpected FROM line: {ins.args}"
            stages.append((base, name, []))
        elif not stages:
            assert ins.keyword == "ARG", f"{ins.keyword} before the first FROM"
            key, _, value = ins.args.partition("=")
            global_args[key] = value
        else:
            stages[-1][2].append(ins)
    return global_args, [Stage(base, name, tuple(ins)) for base, name, ins in stages]


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def _pairs(args: str) -> dict[str, str]:
    """`KEY=value KEY2="value 2"` (LABEL, ENV) as a dict."""
    return dict(word.split("=", 1) for word in shlex.split(args))


def _final() -> Stage:
    return _stages()[1][-1]


def test_every_base_image_is_pinned_by_version_tag_and_digest() -> None:
    _, stages = _stages()
    names = {s.name for s in stages if s.name}
    assert len(stages) >= 2, "a builder stage and a final stage"
    for stage in stages:
        if stage.base in names:
            continue  # an earlier stage of this file
        ref = ImageRef.parse(stage.base)
        assert is_valid_reference(stage.base), stage.base
        assert ref.tag is not None and ref.tag != "latest", f"{stage.base}: pin an exact version tag"
        assert re.fullmatch(r"\d+\.\d+\.\d+-slim-(bookworm|trixie)", ref.tag), f"{stage.base}: a slim Debian tag"
        assert ref.sha256 is not None and re.fullmatch(r"sha256:[0-9a-f]{64}", ref.sha256), stage.base


def test_builder_and_final_stage_share_one_base() -> None:
    # The virtual environment copied from the builder points at the base image's interpreter.
    _, stages = _stages()
    assert stages[0].name == "builder"
    assert {s.base for s in stages} == {stages[0].base}


def test_final_stage_runs_as_the_deployments_numeric_non_root_user() -> None:
    [user] = _final().all("USER")
    assert re.fullmatch(r"\d+:\d+", user), f"USER {user}: numeric, so Kubernetes can verify runAsNonRoot"
    uid, gid = (int(x) for x in user.split(":"))
    assert uid != 0 and gid != 0
    pod = yaml.safe_load((DEPLOY / "deployment.yaml").read_text())["spec"]["template"]["spec"]
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["fsGroup"]) == (uid, gid)


def test_entrypoint_is_rollguard_and_cmd_serves_with_the_mounted_certificates() -> None:
    final = _final()
    [entrypoint] = final.all("ENTRYPOINT")
    [cmd] = final.all("CMD")
    assert _exec_form(entrypoint) == ["rollguard"]
    command = _exec_form(cmd)
    assert command[0] == "serve"
    options = dict(a.removeprefix("--").split("=", 1) for a in command[1:])
    [container] = yaml.safe_load((DEPLOY / "deployment.yaml").read_text())["spec"]["template"]["spec"]["containers"]
    deployed = dict(a.removeprefix("--").split("=", 1) for a in container["args"][1:])
    # The image's defaults serve the Secret where deploy/ mounts it.
    assert options == {"cert": deployed["cert"], "key": deployed["key"], "port": deployed["port"]}
    assert not final.all("HEALTHCHECK"), "Kubernetes probes check the webhook; a HEALTHCHECK is ignored there"


def test_labels_name_the_release() -> None:
    final = _final()
    labels: dict[str, str] = {}
    for args in final.all("LABEL"):
        labels.update(_pairs(args))
    assert labels["org.opencontainers.image.title"] == "rollguard"
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    assert "VERSION=unknown" in final.all("ARG"), "the version comes from the build (make image), never guessed"
    assert labels["org.opencontainers.image.source"] == "${SOURCE}"
    assert any(a.startswith("SOURCE=https://") for a in final.all("ARG"))
    assert "admission webhook" in labels["org.opencontainers.image.description"]


def test_final_stage_copies_only_the_virtual_environment() -> None:
    final = _final()
    assert not final.all("ADD")
    assert final.all("COPY") == ["--from=builder /opt/rollguard /opt/rollguard"]
    env: dict[str, str] = {}
    for args in final.all("ENV"):
        env.update(_pairs(args))
    assert env["PATH"].split(":")[0] == "/opt/rollguard/bin"
    # Its one RUN removes the base image's installer; the environment was made without one.
    assert final.all("RUN") == ['["python", "-m", "pip", "uninstall", "--yes", "--quiet", "pip"]']
    [builder_run] = _stages()[1][0].all("RUN")
    assert "venv --without-pip /opt/rollguard" in builder_run


def test_nothing_is_added_from_a_url() -> None:
    for stage in _stages()[1]:
        for args in stage.all("ADD") + stage.all("COPY"):
            sources = [w for w in shlex.split(args) if not w.startswith("--")][:-1]
            assert not any(re.match(r"(https?|git|ssh)://|git@", s) for s in sources), args


def test_final_stage_writes_only_under_tmp() -> None:
    final = _final()
    env: dict[str, str] = {}
    for args in final.all("ENV"):
        env.update(_pairs(args))
    for key in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "TMPDIR"):
        assert env[key] == "/tmp" or env[key].startswith("/tmp/"), f"{key}={env[key]}"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert final.all("WORKDIR") == ["/tmp"]
    # deploy/ gives the pod a read-only root filesystem and an emptyDir at /tmp.
    pod = yaml.safe_load((DEPLOY / "deployment.yaml").read_text())["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_opa_bindings_pin_matches_the_makefile() -> None:
    [pin] = re.findall(r"^OPA_BINDINGS := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    builder = _stages()[1][0]
    assert f"OPA_BINDINGS={pin}" in builder.all("ARG")
    assert "--ignore-requires-python" in builder.all("RUN")[0]


# --- .dockerignore ----------------------------------------------------------------------------


def _ignored(path: str, rules: list[str]) -> bool:
    """Whether the build context leaves out `path`: the last rule matching it or a parent decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for rule in rules:
        negated = rule.startswith("!")
        pattern = rule.removeprefix("!").rstrip("/")
        patterns = {pattern, pattern.removeprefix("**/")}
        if any(fnmatch.fnmatchcase(p, pat) for p in prefixes for pat in patterns):
            ignored = not negated
    return ignored


@pytest.fixture(scope="module")
def ignore_rules() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "tests/test_image.py",
        ".pytest_cache/v/cache/nodeids",
        ".mypy_cache/3.10/rollguard/cli.meta.json",
        ".ruff_cache/CACHEDIR.TAG",
        ".hypothesis/examples/x",
        "src/rollguard/__pycache__/model.cpython-311.pyc",
        "tls/ca.key",
        "dist/rollguard-0.1.0-py3-none-any.whl",
    ],
)
def test_dockerignore_leaves_out(path: str, ignore_rules: list[str]) -> None:
    assert _ignored(path, ignore_rules)


def test_dockerignore_keeps_what_the_dockerfile_copies(ignore_rules: list[str]) -> None:
    builder = _stages()[1][0]
    sources = [w for args in builder.all("COPY") for w in shlex.split(args)[:-1]]
    assert sources, "the builder copies the sources"
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not _ignored(source.rstrip("/"), ignore_rules), source
    assert not _ignored("src/rollguard/cli/__init__.py", ignore_rules)
    assert not _ignored("policies/rollguard/k8s/rbac/rbac.rego", ignore_rules)


# --- make image -------------------------------------------------------------------------------


@pytest.fixture()
def bin_dir(tmp_path: Path) -> Path:
    """A PATH directory with the tools the Makefile reads itself with, and no container builder."""
    if shutil.which("make") is None or shutil.which("sed") is None:
        pytest.skip("make and sed are needed to run the Makefile")
    path = tmp_path / "bin"
    path.mkdir()
    (path / "sed").symlink_to(shutil.which("sed") or "")
    return path


def _fake_builders(bin_dir: Path, names: tuple[str, ...]) -> None:
    # Stand-ins for the real tools: no container daemon runs here, and `make -n` only prints.
    for name in names:
        fake = bin_dir / name
        fake.write_text("#!/bin/sh\necho fake builder must not run >&2\nexit 99\n")
        fake.chmod(0o755)


def _make(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(bin_dir), "HOME": str(bin_dir)}
    return subprocess.run(
        [shutil.which("make") or "make", "--no-print-directory", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("installed", "chosen"),
    [
        (BUILDERS, "docker"),
        (("podman", "buildah"), "podman"),
        (("buildah",), "buildah"),
        (("buildah", "docker"), "docker"),
    ],
)
def test_make_image_uses_the_first_builder_found(bin_dir: Path, installed: tuple[str, ...], chosen: str) -> None:
    _fake_builders(bin_dir, installed)
    result = _make(bin_dir, "-n", "image")
    assert result.returncode == 0, result.stderr
    [pin] = re.findall(r"^OPA_BINDINGS := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert result.stdout.splitlines() == [
        f"{chosen} build --build-arg VERSION={VERSION} --build-arg OPA_BINDINGS={pin} --tag rollguard:{VERSION} ."
    ]


def test_make_image_takes_another_tag(bin_dir: Path) -> None:
    _fake_builders(bin_dir, ("podman",))
    result = _make(bin_dir, "-n", "image", "IMAGE=registry.example.com/platform/rollguard:rc1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("--tag registry.example.com/platform/rollguard:rc1 .")
    assert result.stdout.startswith(f"podman build --build-arg VERSION={VERSION} ")


def test_make_image_without_a_builder_says_what_to_install(bin_dir: Path) -> None:
    result = _make(bin_dir, "image")
    assert result.returncode != 0
    assert "make image needs docker, podman or buildah on PATH; install one of them" in result.stderr
    assert "fake builder" not in result.stderr


# --- webhook manifest --image -----------------------------------------------------------------


needs_kustomize = pytest.mark.skipif(
    not (shutil.which("kubectl") or shutil.which("kustomize")), reason="needs kubectl or kustomize to render deploy/"
)


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ca")
    write_certificates(issue_certificates(service="rollguard", namespace="rollguard"), out, force=True)
    return out


def manifest(ca_dir: Path, *extra: str, namespace: str = "rollguard") -> Result:
    return CliRunner().invoke(
        main,
        ["webhook", "manifest", "--service", "rollguard", "--namespace", namespace, "--ca", str(ca_dir), *extra],
    )


def _documents(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    return [d for d in yaml.safe_load_all(result.stdout) if d is not None]


@pytest.mark.parametrize(
    "reference",
    [
        "registry.example.com/Platform/rollguard:0.1.0",  # upper case in a repository path
        "rollguard:0.1.0 --privileged",
        "-rollguard:0.1.0",
        "rollguard@sha256:not-hex",
        "",
    ],
)
def test_an_invalid_image_is_refused(ca_dir: Path, reference: str) -> None:
    result = manifest(ca_dir, "--image", reference, "--deploy", str(DEPLOY))
    assert result.exit_code == 2
    assert (
        f"rollguard: --image {reference!r} is not an image reference; give registry/name:tag@sha256:" in result.stderr
    )
    assert result.stdout == ""


@needs_kustomize
def test_image_goes_into_the_deployment_of_the_rendered_base(ca_dir: Path) -> None:
    docs = _documents(manifest(ca_dir, "--image", PINNED, "--deploy", str(DEPLOY)))
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    [deployment] = by_kind["Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == PINNED
    assert PLACEHOLDER_IMAGE not in yaml.safe_dump_all(docs)
    # Rendered by kustomize: the ConfigMaps the pods mount are in the stream under their hashed names.
    configmaps = {c["metadata"]["name"] for c in by_kind["ConfigMap"]}
    mounted = {v["configMap"]["name"] for v in deployment["spec"]["template"]["spec"]["volumes"] if "configMap" in v}
    assert len(mounted) == 2 and mounted <= configmaps
    assert all(re.fullmatch(r"rollguard-(policies|config)-[a-z0-9]{10}", name) for name in mounted)
    # The base first, the webhook configurations last, pointing at the Service the base deploys.
    assert [d["kind"] for d in docs[-2:]] == ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]
    [service] = by_kind["Service"]
    assert docs[-1]["webhooks"][0]["clientConfig"]["service"]["name"] == service["metadata"]["name"]


@needs_kustomize
def test_an_image_without_a_digest_is_deployed_with_a_warning(ca_dir: Path) -> None:
    result = manifest(ca_dir, "--image", "registry.example.com/platform/rollguard:0.1.0", "--deploy", str(DEPLOY))
    [deployment] = [d for d in _documents(result) if d["kind"] == "Deployment"]
    assert (
        deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        == "registry.example.com/platform/rollguard:0.1.0"
    )
    assert "--image registry.example.com/platform/rollguard:0.1.0 is not pinned by a sha256 digest" in result.stderr


def test_without_image_nothing_but_the_configurations(ca_dir: Path) -> None:
    docs = _documents(manifest(ca_dir, "--deploy", str(ROOT / "no-such-folder")))
    assert [d["kind"] for d in docs] == ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]


@needs_kustomize
def test_a_namespace_the_base_does_not_deploy_to_is_refused(ca_dir: Path) -> None:
    result = manifest(ca_dir, "--image", PINNED, "--deploy", str(DEPLOY), namespace="webhooks")
    assert result.exit_code == 2
    assert "no Service 'rollguard' in namespace 'webhooks' is deployed here; pass the --service and --namespace" in (
        result.stderr
    )
    assert result.stdout == ""


@needs_kustomize
def test_a_base_without_the_placeholder_is_refused(ca_dir: Path, tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "kustomization.yaml").write_text("resources: [deployment.yaml]\n")
    deployment = yaml.safe_load((DEPLOY / "deployment.yaml").read_text())
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = PINNED
    (base / "deployment.yaml").write_text(yaml.safe_dump(deployment))
    result = manifest(ca_dir, "--image", PINNED, "--deploy", str(base))
    assert result.exit_code == 2
    assert (
        f"no container runs the placeholder image {PLACEHOLDER_IMAGE}, so --image has nothing to set" in result.stderr
    )


def test_image_needs_a_kustomize_renderer(ca_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    result = manifest(ca_dir, "--image", PINNED, "--deploy", str(DEPLOY))
    assert result.exit_code == 2
    assert f"--image renders {DEPLOY} with kubectl or kustomize; install one" in result.stderr


# --- the gate judges the placeholder as it judges a real image --------------------------------


def _check(path: Path) -> tuple[Result, dict[str, Any]]:
    args = ["check", "--format", "json", "--config", str(DEPLOY / "rollguard.yaml"), "--env", "prod", str(path)]
    result = CliRunner().invoke(main, args)
    return result, json.loads(result.stdout) if result.stdout.startswith("{") else {}


@needs_kustomize
@pytest.mark.parametrize(
    ("image", "verdict"), [(PINNED, "pass"), ("registry.example.com/platform/rollguard:0.1.0", "fail")]
)
def test_the_gate_judges_the_deployed_image_as_it_judges_the_placeholder(
    ca_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, image: str, verdict: str
) -> None:
    monkeypatch.chdir(tmp_path)  # no rollguard.yaml found upward from here
    stream = tmp_path / "install.yaml"
    stream.write_text(manifest(ca_dir, "--image", image, "--deploy", str(DEPLOY)).stdout)
    base_result, base = _check(DEPLOY)
    result, report = _check(stream)
    # The committed base passes in prod because its placeholder is pinned like a real release;
    # a digest-pinned image keeps that verdict, a tag alone is what prod refuses.
    assert base_result.exit_code == 0 and base["verdict"] == "pass", base_result.output
    assert report["verdict"] == verdict, result.output
    if verdict == "fail":
        assert {(f["policy"], f["details"]["image"]) for f in report["findings"]} == {("k8s.image_pinning", image)}
    else:
        assert report["findings"] == [] and result.exit_code == 0
