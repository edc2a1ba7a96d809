"""The chart's network policies, evaluated as rendered: a deny-all for every pod of the release,
then exactly the flows Spectral needs (gateway to the web targets, services to auth's JWKS, DNS,
the data stores), and nothing else."""

from __future__ import annotations

from typing import Any

import helm_python
import pytest

from helm_release import (
    BACKUP,
    NAMESPACE,
    SERVICES,
    TARGETS,
    Manifest,
    of_kind,
    render,
    scenario,
)
from network_policies import (
    Endpoint,
    allowed,
    pods,
    selector_matches,
)

INTERNET = Endpoint("a browser", ip="203.0.113.7")
DATABASE = Endpoint("PostgreSQL", ip="10.20.0.5")
BROKER = Endpoint("RabbitMQ", ip="10.20.1.5")
REDIS = Endpoint("Redis", ip="10.20.2.5")
STRIPE = Endpoint("Stripe", ip="198.51.100.20")
DNS = Endpoint("CoreDNS", {"k8s-app": "kube-dns"}, "kube-system")
PROMETHEUS = Endpoint("Prometheus", {"app": "prometheus"}, "monitoring")
INGRESS_CONTROLLER = Endpoint("ingress-nginx", {"app": "ingress-nginx"}, "ingress-nginx")
STRANGER = Endpoint("another app's pod", {"app": "other"}, NAMESPACE)


@pytest.fixture(scope="module")
def default_release(chart: helm_python.Chart) -> tuple[list[Manifest], dict[str, Endpoint]]:
    manifests = render(chart)
    return list(of_kind(manifests, "NetworkPolicy").values()), pods(manifests)


def test_a_deny_all_policy_isolates_every_pod_of_the_release(
    default_release: tuple[list[Manifest], dict[str, Endpoint]],
) -> None:
    policies, release_pods = default_release
    assert set(release_pods) == {f"{s}-{t}" for s in SERVICES for t in TARGETS} | {
        "gateway",
        "platform",
        "migrations",
    }
    [deny] = [p for p in policies if not p["spec"].get("ingress") and not p["spec"].get("egress")]
    assert sorted(deny["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    for pod in release_pods.values():
        assert selector_matches(deny["spec"]["podSelector"], pod.labels), pod.label
    assert not selector_matches(deny["spec"]["podSelector"], STRANGER.labels)


def test_the_flows_spectral_needs_are_allowed(
    default_release: tuple[list[Manifest], dict[str, Endpoint]],
) -> None:
    policies, p = default_release
    webs = [p[f"{s}-web"] for s in SERVICES]
    target_pods = [p[f"{s}-{t}"] for s in SERVICES for t in TARGETS]
    service_pods = [*target_pods, p["migrations"]]
    needed = [(INTERNET, p["gateway"], 8443), (INTERNET, p["gateway"], 8080)]
    needed += [(p["gateway"], target, 8000) for target in [*webs, p["platform"]]]
    needed += [(p["platform"], web, 8000) for web in webs]
    needed += [(pod, p["auth-web"], 8000) for pod in service_pods]  # JWKS
    others = [web for web in webs if web is not p["reports-web"]]
    needed += [(p[f"reports-{t}"], web, 8000) for t in TARGETS for web in others]
    needed += [
        (pod, store, port)
        for pod in service_pods
        for store, port in ((DATABASE, 5432), (BROKER, 5672), (REDIS, 6379), (STRIPE, 443))
    ]
    needed += [(PROMETHEUS, pod, 8000) for pod in [*target_pods, p["platform"]]]
    for source, target, port in needed:
        assert allowed(policies, source, target, port), f"{source.label} -> {target.label}:{port}"
    for pod in p.values():
        for protocol in ("UDP", "TCP"):
            assert allowed(policies, pod, DNS, 53, protocol), f"{pod.label} -> DNS/{protocol}"


def test_everything_else_is_denied(
    default_release: tuple[list[Manifest], dict[str, Endpoint]],
) -> None:
    policies, p = default_release
    unneeded = [
        (p["governance-worker"], p["billing-web"], 8000),  # services talk over the bus
        (p["billing-web"], p["governance-web"], 8000),
        (p["governance-web"], p["platform"], 8000),
        (INTERNET, p["auth-web"], 8000),  # only through the gateway
        (INTERNET, p["platform"], 8000),
        (STRANGER, p["auth-web"], 8000),
        (p["gateway"], DATABASE, 5432),  # the edge holds no data
        (p["platform"], BROKER, 5672),
        (p["gateway"], p["audit-web"], 22),
        (p["auth-web"], DATABASE, 22),
        (p["auth-web"], DNS, 5353),
        (PROMETHEUS, p["gateway"], 8000),  # nginx has no metrics port
        (PROMETHEUS, p["migrations"], 8000),
        (p["reports-web"], p["audit-worker"], 8000),
    ]
    unneeded += [
        (source, p[f"{s}-{t}"], 8000)
        for s in SERVICES
        for t in ("worker", "relay")
        for source in (p["gateway"], p["platform"], p["auth-web"], INTERNET, STRANGER)
    ]
    for source, target, port in unneeded:
        assert not allowed(policies, source, target, port), (
            f"{source.label} -> {target.label}:{port}"
        )


def test_narrowed_egress_refuses_other_addresses(chart: helm_python.Chart) -> None:
    manifests = render(chart, scenario("scaled-values.yaml"))
    policies, p = list(of_kind(manifests, "NetworkPolicy").values()), pods(manifests)
    assert allowed(policies, p["audit-worker"], DATABASE, 5432)
    assert not allowed(policies, p["audit-worker"], Endpoint("elsewhere", ip="192.0.2.9"), 5432)
    assert allowed(policies, p["audit-relay"], BROKER, 5671)
    assert not allowed(policies, p["audit-relay"], BROKER, 5672)  # TLS only in this scenario
    collector = Endpoint("otel", {"app": "otel"}, "observability")
    assert allowed(policies, p["governance-web"], collector, 4318)
    assert not allowed(policies, p["gateway"], collector, 4318)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(BACKUP, id="default egress"),
        pytest.param(scenario("backup-values.yaml"), id="narrowed database egress"),
    ],
)
def test_the_backup_pod_reaches_the_database_and_dns_and_nothing_else(
    chart: helm_python.Chart, values: dict[str, Any]
) -> None:
    manifests = render(chart, values)
    policies, p = list(of_kind(manifests, "NetworkPolicy").values()), pods(manifests)
    backup = p["backup"]
    [deny] = [x for x in policies if not x["spec"].get("ingress") and not x["spec"].get("egress")]
    assert selector_matches(deny["spec"]["podSelector"], backup.labels)
    assert allowed(policies, backup, DATABASE, 5432)
    for protocol in ("UDP", "TCP"):
        assert allowed(policies, backup, DNS, 53, protocol), protocol
    collector = Endpoint("otel", {"app": "otel"}, "observability")
    unneeded = [
        (DATABASE, 22),
        (BROKER, 5672),
        (BROKER, 5671),
        (REDIS, 6379),
        (STRIPE, 443),
        (DNS, 5353),
        (collector, 4318),
        (p["auth-web"], 8000),  # no service's API, not even auth's keys
        (p["governance-web"], 8000),
        (p["platform"], 8000),
        (p["gateway"], 8443),
    ]
    if "networkPolicy" in values:  # the database narrowed to 10.20.0.0/24
        unneeded.append((Endpoint("elsewhere", ip="192.0.2.9"), 5432))
    for target, port in unneeded:
        assert not allowed(policies, backup, target, port), f"backup -> {target.label}:{port}"
    for source in (INTERNET, STRANGER, PROMETHEUS, p["gateway"], p["platform"], p["auth-web"]):
        assert not allowed(policies, source, backup, 8000), f"{source.label} -> backup"
    # The services keep what they had.
    assert allowed(policies, p["audit-worker"], REDIS, 6379)
    assert allowed(policies, p["reports-web"], p["audit-web"], 8000)


def test_behind_an_ingress_only_the_controller_reaches_the_gateway(
    chart: helm_python.Chart,
) -> None:
    manifests = render(chart, scenario("ingress-values.yaml"))
    policies, p = list(of_kind(manifests, "NetworkPolicy").values()), pods(manifests)
    assert allowed(policies, INGRESS_CONTROLLER, p["gateway"], 8443)
    assert not allowed(policies, INTERNET, p["gateway"], 8443)


def test_network_policies_can_be_switched_off(chart: helm_python.Chart) -> None:
    assert not of_kind(render(chart, scenario("minimal-values.yaml")), "NetworkPolicy")
