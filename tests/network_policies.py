"""A small evaluator of Kubernetes NetworkPolicies as rendered: may this pod (or outside address)
open a connection to that one on this port? Both the sender's egress and the receiver's ingress
must allow it, as a conforming network plugin enforces them."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from helm_release import NAMESPACE, WORKLOAD_KINDS, Manifest, containers, pod_labels


@dataclass(frozen=True)
class Endpoint:
    """One end of a connection: a pod (labels, namespace, named ports) or an outside address."""

    label: str
    labels: Mapping[str, str] = field(default_factory=dict)
    namespace: str | None = None  # None: outside the cluster
    ip: str | None = None  # only outside addresses; ipBlock is for those
    ports: Mapping[str, int] = field(default_factory=dict)

    def namespace_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace} if self.namespace else {}


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    selector = selector or {}
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = (
            expression["key"],
            expression["operator"],
            expression.get("values", []),
        )
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not ok:
            return False
    return True


def peer_matches(peer: Mapping[str, Any], other: Endpoint, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        if other.ip is None:
            return False
        address = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], other.namespace_labels()):
            return False
    elif other.namespace != policy_namespace:
        return False
    return selector_matches(peer.get("podSelector"), other.labels)


def ports_match(
    rule_ports: list[Mapping[str, Any]] | None, port: int, protocol: str, pod: Endpoint
) -> bool:
    if not rule_ports:
        return True
    for entry in rule_ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str):
            wanted = pod.ports.get(wanted)
        if wanted == port or (
            wanted is not None and wanted <= port <= entry.get("endPort", wanted)
        ):
            return True
    return False


def direction_allows(
    policies: list[Manifest],
    pod: Endpoint,
    other: Endpoint,
    direction: str,
    port: int,
    protocol: str,
) -> bool:
    """Whether `pod`'s policies let it talk to (Egress) or hear from (Ingress) `other`."""
    key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    selecting = [
        p
        for p in policies
        if p["metadata"].get("namespace", NAMESPACE) == pod.namespace
        and selector_matches(p["spec"]["podSelector"], pod.labels)
        and direction
        in p["spec"].get("policyTypes", ["Ingress"] + (["Egress"] if "egress" in p["spec"] else []))
    ]
    if not selecting:
        return True  # isolated by nothing
    destination = other if direction == "Egress" else pod
    return any(
        (
            peers_key not in rule
            or any(peer_matches(peer, other, NAMESPACE) for peer in rule[peers_key])
        )
        and ports_match(rule.get("ports"), port, protocol, destination)
        for policy in selecting
        for rule in policy["spec"].get(key) or []
    )


def allowed(
    policies: list[Manifest], source: Endpoint, target: Endpoint, port: int, protocol: str = "TCP"
) -> bool:
    """A connection passes when the source's egress and the target's ingress both allow it."""
    egress = source.namespace is None or direction_allows(
        policies, source, target, "Egress", port, protocol
    )
    ingress = target.namespace is None or direction_allows(
        policies, target, source, "Ingress", port, protocol
    )
    return egress and ingress


def pods(manifests: list[Manifest]) -> dict[str, Endpoint]:
    """The release's pods by component (one stands for all replicas)."""
    found = {}
    for workload in (m for m in manifests if m["kind"] in WORKLOAD_KINDS):
        labels = pod_labels(workload)
        ports = {
            p["name"]: p["containerPort"] for c in containers(workload) for p in c.get("ports", [])
        }
        component = labels["app.kubernetes.io/component"]
        found[component] = Endpoint(component, labels, NAMESPACE, ports=ports)
    return found
