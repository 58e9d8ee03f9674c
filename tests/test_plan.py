"""`rollguard plan order`: waves from declared dependencies, migrations around them, cycles refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from rollguard.cli import main
from rollguard.inputs import load_change_set
from rollguard.plan import DependencyCycleError, parse_requirements, plan_order, render_text

from .conftest import FIXTURES


def workload(name: str, *, depends: str | None = None, version: str = "1.0.0", kind: str = "Deployment") -> dict:
    meta: dict = {"name": name, "namespace": "shop", "labels": {"app.kubernetes.io/version": version}}
    if depends is not None:
        meta["annotations"] = {"rollguard.io/depends-on": depends}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": meta,
        "spec": {
            "template": {"spec": {"containers": [{"name": "app", "image": f"registry.example.com/{name}:{version}"}]}}
        },
    }


def second_document_line(path: Path) -> int:
    """1-based line where the second YAML document of `path` starts."""
    return path.read_text(encoding="utf-8").splitlines().index("---") + 2


def write(tmp_path: Path, docs: list[dict], name: str = "change.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    return path


def order_of(tmp_path: Path, docs: list[dict], **kwargs: object) -> list[list[str]]:
    plan = plan_order(load_change_set([str(write(tmp_path, docs))]), **kwargs)  # type: ignore[arg-type]
    return [[s.display() for s in wave] for wave in plan.waves()]


def test_providers_come_before_their_consumers(tmp_path: Path) -> None:
    docs = [
        workload("web", depends="orders>=1.8, catalog"),
        workload("orders", depends="payments>=2.4.0"),
        workload("payments", version="2.4.1"),
        workload("catalog"),
        workload("search"),
    ]
    assert order_of(tmp_path, docs) == [
        ["Deployment shop/catalog", "Deployment shop/payments", "Deployment shop/search"],
        ["Deployment shop/orders"],
        ["Deployment shop/web"],
    ]


def test_steps_say_what_they_wait_for_and_where_they_are(tmp_path: Path) -> None:
    path = write(tmp_path, [workload("web", depends="orders"), workload("orders", version="1.8.0")])
    plan = plan_order(load_change_set([str(path)]))
    web = next(s for s in plan.steps if s.name == "shop/web")
    orders = next(s for s in plan.steps if s.name == "shop/orders")
    assert (web.wave, web.after, web.file, web.line) == (1, ("shop/orders",), path.as_posix(), 1)
    assert (orders.wave, orders.after, orders.version) == (0, (), "1.8.0")
    assert orders.line > web.line


def test_a_cycle_is_an_error_naming_it(tmp_path: Path) -> None:
    docs = [workload("a", depends="b"), workload("b", depends="c"), workload("c", depends="a"), workload("d")]
    with pytest.raises(DependencyCycleError) as caught:
        order_of(tmp_path, docs)
    message = caught.value.message
    cycle = message.split("dependency cycle: ", 1)[1].split(";", 1)[0].split(" -> ")
    assert len(cycle) == 4 and cycle[0] == cycle[-1]
    assert set(cycle) == {"Deployment shop/a", "Deployment shop/b", "Deployment shop/c"}
    # Each entry waits for the next one: a needs b, b needs c, c needs a.
    needs = {"Deployment shop/a": "Deployment shop/b", "Deployment shop/b": "Deployment shop/c"}
    needs["Deployment shop/c"] = "Deployment shop/a"
    assert all(needs[x] == y for x, y in zip(cycle, cycle[1:], strict=False))


def test_a_workload_depending_on_itself_is_not_a_cycle(tmp_path: Path) -> None:
    assert order_of(tmp_path, [workload("a", depends="a")]) == [["Deployment shop/a"]]


def test_migrations_expand_first_and_contract_last(tmp_path: Path) -> None:
    (tmp_path / "V1__add_column.sql").write_text("ALTER TABLE orders ADD COLUMN note text;\n", encoding="utf-8")
    (tmp_path / "V2__drop_column.sql").write_text(
        "-- rollguard: phase=contract\nALTER TABLE orders DROP COLUMN legacy;\n", encoding="utf-8"
    )
    write(tmp_path, [workload("web", depends="orders"), workload("orders")])
    plan = plan_order(load_change_set([str(tmp_path)]))
    assert [[(s.phase, s.display()) for s in wave] for wave in plan.waves()] == [
        [("expand", "MigrationFile V1__add_column.sql")],
        [("rollout", "Deployment shop/orders")],
        [("rollout", "Deployment shop/web")],
        [("contract", "MigrationFile V2__drop_column.sql")],
    ]


def test_providers_outside_the_change_are_listed(tmp_path: Path) -> None:
    path = write(tmp_path, [workload("web", depends="billing/payments>=2.4, orders"), workload("orders")])
    plan = plan_order(load_change_set([str(path)]))
    assert [(consumer, r.display(), r.source) for consumer, r in plan.external] == [
        ("Deployment shop/web", "billing/payments>=2.4", "annotation rollguard.io/depends-on")
    ]


def test_config_dependencies_are_edges_too(tmp_path: Path) -> None:
    docs = [workload("web"), workload("orders")]
    assert order_of(tmp_path, docs, dependencies={"shop/web": ["orders"]}) == [
        ["Deployment shop/orders"],
        ["Deployment shop/web"],
    ]
    assert order_of(tmp_path, docs, dependencies={"web": ["orders"]})[0] == ["Deployment shop/orders"]


def test_an_unreadable_entry_is_a_problem_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, [workload("orders"), workload("web", depends="orders>1")])
    plan = plan_order(load_change_set([str(path)]))
    [problem] = plan.problems
    assert (problem.file, problem.line) == (path.as_posix(), second_document_line(path))
    assert "Deployment shop/web: cannot read 'orders>1' in annotation rollguard.io/depends-on" in problem.message
    assert [s.display() for s in plan.steps] == ["Deployment shop/orders", "Deployment shop/web"]


def test_requirement_grammar() -> None:
    [a, b, c] = parse_requirements(" payments>=2.4.0 ,billing/ledger >= v3, search", namespace="shop", source="s")
    assert (a.provider, a.minimum, b.provider, b.minimum, c.provider, c.minimum) == (
        "shop/payments",
        "2.4.0",
        "billing/ledger",
        "v3",
        "shop/search",
        None,
    )
    for bad in ["Payments", "payments>2", "payments==2", "a/b/c", "payments>="]:
        with pytest.raises(ValueError, match="cannot read"):
            parse_requirements(bad, namespace="shop", source="s")


def test_cli_text_and_json(tmp_path: Path) -> None:
    path = write(
        tmp_path, [workload("web", depends="orders, billing/payments>=2"), workload("orders", version="1.8.0")]
    )
    runner = CliRunner()
    text = runner.invoke(main, ["plan", "order", str(path)])
    assert text.exit_code == 0, text.output
    # One pod each, started in the 10 s image pull allowance (no probes): 10 s a wave.
    assert text.output.splitlines() == [
        "1. roll out  (10 s)",
        f"   Deployment shop/orders 1.8.0  {path.as_posix()}:{second_document_line(path)}",
        "2. roll out  (10 s)",
        f"   Deployment shop/web 1.0.0  {path.as_posix()}:1  (after shop/orders)",
        "rollouts take 20 s one wave after another, by the simulation (docs/simulation.md)",
        "",
        "needs providers outside this change (deploy them first):",
        "   Deployment shop/web needs billing/payments>=2  (annotation rollguard.io/depends-on)",
    ]
    out = runner.invoke(main, ["plan", "order", str(path), "--format", "json"])
    assert out.exit_code == 0
    data = json.loads(out.output)
    assert [(s["wave"], s["name"], s["after"]) for s in data["steps"]] == [
        (0, "shop/orders", []),
        (1, "shop/web", ["shop/orders"]),
    ]
    assert data["external"] == [
        {
            "consumer": "Deployment shop/web",
            "provider": "billing/payments",
            "minimum": "2",
            "source": "annotation rollguard.io/depends-on",
        }
    ]


def test_cli_cycle_and_bad_input_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    cycle = write(tmp_path, [workload("a", depends="b"), workload("b", depends="a")])
    result = runner.invoke(main, ["plan", "order", str(cycle)])
    assert result.exit_code == 2
    assert "dependency cycle: Deployment shop/" in result.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [\n", encoding="utf-8")
    result = runner.invoke(main, ["plan", "order", str(broken), str(write(tmp_path, [workload("a")], "ok.yaml"))])
    assert result.exit_code == 2
    assert "Deployment shop/a" in result.output and "broken.yaml" in result.output


def test_the_fixture_change_orders_payments_first() -> None:
    folder = FIXTURES / "governance" / "dependency_order" / "allowed_provider_in_change"
    plan = plan_order(load_change_set([str(folder)]))
    assert [[s.name for s in w] for w in plan.waves()] == [["shop/payments"], ["shop/orders"]]
    assert [(c, r.display()) for c, r in plan.external] == [("Deployment shop/orders", "shop/inventory")]


def test_config_dependencies_order_the_cli_plan_and_reach_the_policy(tmp_path: Path) -> None:
    config = tmp_path / "rollguard.yaml"
    config.write_text('dependencies:\n  shop/web: ["orders>=2.0"]\n', encoding="utf-8")
    path = write(tmp_path, [workload("web"), workload("orders", version="1.9.0")])
    runner = CliRunner()
    planned = runner.invoke(main, ["plan", "order", str(path), "--config", str(config), "--format", "json"])
    assert planned.exit_code == 0, planned.output
    assert [(s["wave"], s["name"]) for s in json.loads(planned.output)["steps"]] == [
        (0, "shop/orders"),
        (1, "shop/web"),
    ]
    checked = runner.invoke(main, ["check", str(path), "--config", str(config), "--format", "json"])
    findings = [f for f in json.loads(checked.output)["findings"] if f["policy"] == "governance.dependency_order"]
    assert [(f["resource"]["name"], f["message"], f["details"]["source"]) for f in findings] == [
        (
            "web",
            "needs Deployment shop/orders 2.0 or later, but this change deploys it at 1.9.0",
            "rollguard.yaml dependencies",
        )
    ]


def test_an_unreadable_config_dependency_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "rollguard.yaml"
    config.write_text('fail_on: high\ndependencies:\n  shop/web:\n    - orders\n    - "orders>2"\n', encoding="utf-8")
    result = CliRunner().invoke(
        main, ["plan", "order", str(write(tmp_path, [workload("web")])), "--config", str(config)]
    )
    assert result.exit_code == 2
    assert f"{config}:5: dependencies.shop/web[1]: cannot read 'orders>2'" in result.output


def sized(name: str, *, cpu: str = "500m", replicas: int = 3) -> dict:
    """A Deployment of `replicas` pods requesting `cpu`, rolled one surge pod at a time."""
    doc = workload(name)
    doc["spec"].update(
        replicas=replicas,
        selector={"matchLabels": {"app": name}},
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
    )
    doc["spec"]["template"]["metadata"] = {"labels": {"app": name}}
    doc["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": cpu}}
    return doc


def quota(cpu: float) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "compute", "namespace": "shop"},
        "spec": {"hard": {"requests.cpu": f"{cpu:g}"}},
    }


def surge_cpu(tmp_path: Path, doc: dict) -> tuple[float, float]:
    """(at rest, extra at the peak) CPU of one workload, as the simulation plays it."""
    from rollguard.simulate import SimulationOptions, simulate_change

    [w] = simulate_change(
        load_change_set([str(write(tmp_path, [doc], "one.yaml"))]), options=SimulationOptions()
    ).workloads
    rest = w.pod_requests.cpu * w.replicas
    return rest, w.pod_requests.cpu * w.peak_pods_with_terminating - rest


def test_waves_are_split_where_the_quota_cannot_hold_every_surge(tmp_path: Path) -> None:
    from rollguard.simulate import SimulationOptions

    docs = [sized("cart"), sized("orders"), sized("search")]
    rest, extra = surge_cpu(tmp_path, docs[0])
    assert extra > 0
    at_rest = 3 * rest
    expected = {
        3: [["cart", "orders", "search"]],  # room for every surge at once
        2: [["cart", "orders"], ["search"]],
        1: [["cart"], ["orders"], ["search"]],
    }
    for surges, waves in expected.items():
        change = load_change_set([str(write(tmp_path, [*docs, quota(at_rest + surges * extra)]))])
        plan = plan_order(change, simulation=SimulationOptions())
        assert [[s.name.split("/")[1] for s in wave] for wave in plan.waves()] == waves
        notes = [plan.notes[wave[0].wave] for wave in plan.waves()]
        assert all(n.duration_seconds is not None and n.duration_seconds > 0 for n in notes)
        assert [n.split for n in notes] == (
            [None]
            if len(waves) == 1
            else ["split: the surges of the whole wave do not fit ResourceQuota shop/compute requests.cpu"] * len(waves)
        )
        assert plan.duration_seconds() == sum(n.duration_seconds or 0 for n in notes)


def test_running_pods_from_the_cluster_take_room_and_a_surge_that_never_fits_is_named(tmp_path: Path) -> None:
    from rollguard.simulate import SimulationOptions

    docs = [sized("cart"), sized("orders")]
    rest, extra = surge_cpu(tmp_path, docs[0])
    change = load_change_set([str(write(tmp_path, [*docs, quota(2 * rest + 2 * extra)]))])
    assert len(plan_order(change, simulation=SimulationOptions()).waves()) == 1

    # A running pod of another app holding one surge's CPU leaves room for one surge at a time; the
    # rolled workloads' own pods are not counted twice.
    def pod(name: str, app: str, cpu: float) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "shop", "labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": "x:1", "resources": {"requests": {"cpu": f"{cpu:g}"}}}]},
            "status": {"phase": "Running"},
        }

    own = [pod(f"cart-{i}", "cart", 0.5) for i in range(3)]
    plan = plan_order(change, simulation=SimulationOptions(), outside=[*own, pod("batch-1", "batch", extra)])
    assert [[s.name for s in wave] for wave in plan.waves()] == [["shop/cart"], ["shop/orders"]]
    # A quota with no room for even one surge: each workload alone, and said so.
    tight = load_change_set([str(write(tmp_path, [*docs, quota(2 * rest + extra / 2)]))])
    plan = plan_order(tight, simulation=SimulationOptions())
    assert [plan.notes[w[0].wave].over_quota for w in plan.waves()] == [
        ("Deployment shop/cart",),
        ("Deployment shop/orders",),
    ]
    text = render_text(plan)
    assert "does not fit the quota even alone: Deployment shop/cart; see k8s.quota_headroom" in text


def test_plan_order_cli_reads_the_namespace_usage(tmp_path: Path) -> None:
    docs = [sized("cart"), sized("orders")]
    rest, extra = surge_cpu(tmp_path, docs[0])
    path = write(tmp_path, docs)
    usage = write(tmp_path, [quota(2 * rest + extra)], "usage.yaml")
    out = CliRunner().invoke(main, ["plan", "order", str(path), "--namespace-usage", str(usage), "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert [(s["wave"], s["name"]) for s in data["steps"]] == [(0, "shop/cart"), (1, "shop/orders")]
    assert [w["split"] for w in data["waves"]] == [
        "split: the surges of the whole wave do not fit ResourceQuota shop/compute requests.cpu"
    ] * 2
    assert data["duration_seconds"] == sum(w["duration_seconds"] for w in data["waves"])
