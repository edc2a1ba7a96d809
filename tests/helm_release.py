"""Rendering helm/spectral offline (Helm's SDK) and reading the manifests: what the chart's tests
share. The chart fixture is in conftest.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import yaml

from spectral_shared.component import installed_components

CHART = Path(__file__).resolve().parents[1] / "helm" / "spectral"
SCENARIOS = sorted(path.name for path in (CHART / "ci").glob("*.yaml"))
SERVICES = tuple(installed_components())  # in start order (ORDER)
TARGETS = ("web", "worker", "relay")
RELEASE = "spectral"
NAMESPACE = "spectral"
KUBE_MINIMUM = re.match(
    r">=\s*(\d+\.\d+\.\d+)", yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
)[1]  # type: ignore[index]
KUBE_NEWEST = kubernetes_validate.utils.latest_version()
KUBE_VERSIONS = (KUBE_MINIMUM, KUBE_NEWEST)
WORKLOAD_KINDS = ("Deployment", "Job", "CronJob")
WRITABLE_DIRS = {"/tmp", "/var/lib/spectral"}  # noqa: S108 (emptyDir mounts on a read-only root)

Manifest = dict[str, Any]
BACKUP = {"backup": {"enabled": True}}  # values that turn the backup CronJob on


def scenario(name: str) -> dict[str, Any]:
    return yaml.safe_load((CHART / "ci" / name).read_text()) or {}


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        both_dicts = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merged(out[key], value) if both_dicts else value
    return out


def render(chart: helm_python.Chart, values: dict[str, Any] | None = None) -> list[Manifest]:
    """The manifests for these values over the shipped defaults (ci/default-values.yaml: the
    defaults plus the one required value, the public address)."""
    values = merged(scenario("default-values.yaml"), values or {})
    rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    return [
        doc
        for path, text in rendered.items()
        if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def of_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    found = {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}
    assert len(found) == sum(m["kind"] == kind for m in manifests), f"two {kind}s share a name"
    return found


def pod_template(workload: Manifest) -> dict[str, Any]:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]


def pod_spec(workload: Manifest) -> dict[str, Any]:
    return pod_template(workload)["spec"]


def pod_labels(workload: Manifest) -> dict[str, str]:
    return pod_template(workload)["metadata"]["labels"]


def containers(workload: Manifest) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]


def secret_refs(container: dict[str, Any]) -> list[str]:
    return [s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s]


def env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def name(component: str) -> str:
    return f"{RELEASE}-{component}"
