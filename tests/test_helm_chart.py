"""The Helm chart (helm/spectral): lint-clean, valid Kubernetes for every version it supports, one
hardened Deployment per target, secrets only by reference, and network policies that allow the
flows Spectral needs and nothing else. Rendered offline with Helm's SDK; no cluster."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

CHART = Path(__file__).resolve().parents[1] / "helm" / "spectral"
SCENARIOS = sorted(path.name for path in (CHART / "ci").glob("*.yaml"))
SERVICES = ("auth", "governance", "audit", "billing", "reports")
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


@pytest.fixture(scope="module")
def chart() -> Iterator[helm_python.Chart]:
    with helm_python.Chart.load(CHART) as loaded:
        yield loaded


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


# --- lint and Kubernetes schemas ---------------------------------------------------------------


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("values_file", SCENARIOS)
def test_strict_lint_finds_nothing(values_file: str, kube_version: str) -> None:
    report = helm_python.lint(
        CHART, values=scenario(values_file), strict=True, kube_version=f"v{kube_version}"
    )
    assert report["total_charts_linted"] == 1
    # Helm's severities: 1 info, 2 warning, 3 error. The one info is "icon is recommended": the
    # chart names no icon rather than a made-up address.
    assert [m for m in report["messages"] if m["severity"] > 1] == [] and report["errors"] == []
    assert {m["error"] for m in report["messages"]} <= {"icon is recommended"}


@pytest.mark.parametrize("values_file", SCENARIOS)
def test_every_manifest_is_valid_kubernetes_for_the_oldest_and_newest_version(
    chart: helm_python.Chart, values_file: str
) -> None:
    manifests = render(chart, scenario(values_file))
    assert manifests
    for manifest in manifests:
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{manifest['kind']}/{manifest['metadata']['name']} ({version}): {exc}")


def test_the_kubernetes_validation_itself_refuses_an_unknown_field(
    chart: helm_python.Chart,
) -> None:
    deployment = of_kind(render(chart), "Deployment")[name("auth-web")]
    pod_spec(deployment)["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_MINIMUM, strict=True)


# --- workloads ---------------------------------------------------------------------------------


def test_one_deployment_per_target_with_its_command(chart: helm_python.Chart) -> None:
    deployments = of_kind(render(chart), "Deployment")
    expected = {name(f"{s}-{t}") for s in SERVICES for t in TARGETS}
    assert set(deployments) == expected | {name("gateway"), name("platform")}
    for service in SERVICES:
        for target in TARGETS:
            [container] = pod_spec(deployments[name(f"{service}-{target}")])["containers"]
            assert container["args"] == [service, target]
            assert container["image"] == f"spectral-{service}:0.1.0"
            listening = {k: env(container).get(k) for k in ("HOST", "PORT", "METRICS_PORT")}
            assert listening == {"HOST": "0.0.0.0", "PORT": "8000", "METRICS_PORT": "8000"}
            assert container["ports"] == [
                {"name": "http", "containerPort": 8000, "protocol": "TCP"}
            ]
            annotations = deployments[name(f"{service}-{target}")]["spec"]["template"]["metadata"][
                "annotations"
            ]
            assert annotations["prometheus.io/scrape"] == "true"
            assert annotations["prometheus.io/port"] == "8000"
    [platform] = pod_spec(deployments[name("platform")])["containers"]
    assert platform["args"] == ["gateway", "dev-router", "--host", "0.0.0.0", "--port", "8000"]
    assert platform["image"] == "spectral-gateway:0.1.0"
    [gateway] = pod_spec(deployments[name("gateway")])["containers"]
    assert "args" not in gateway and "command" not in gateway  # the image renders nginx.conf
    assert gateway["image"] == "spectral-gateway:0.1.0"


def test_a_disabled_target_has_no_deployment_autoscaler_budget_or_policy_entry(
    chart: helm_python.Chart,
) -> None:
    manifests = render(chart, {"services": {"reports": {"worker": {"enabled": False}}}})
    for kind in ("Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert name("reports-worker") not in of_kind(manifests, kind)
    assert "reports-worker" not in json.dumps(of_kind(manifests, "NetworkPolicy"))
    assert name("reports-web") in of_kind(manifests, "Deployment")


@pytest.mark.parametrize("values_file", SCENARIOS)
def test_every_pod_is_hardened_sized_and_probed(chart: helm_python.Chart, values_file: str) -> None:
    manifests = render(chart, scenario(values_file))
    workloads = [m for m in manifests if m["kind"] in WORKLOAD_KINDS]
    assert {m["kind"] for m in workloads} >= {"Deployment", "Job"}
    assert ("CronJob" in {m["kind"] for m in workloads}) == (values_file == "backup-values.yaml")
    for workload in workloads:
        spec = pod_spec(workload)
        where = workload["metadata"]["name"]
        assert spec["securityContext"] == {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        }, where
        assert spec["automountServiceAccountToken"] is False, where
        for container in containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}, where
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) >= {"cpu", "memory"}, where
            assert {m["mountPath"] for m in container["volumeMounts"]} >= WRITABLE_DIRS, where
            if workload["kind"] != "Deployment":
                continue  # runs to completion: no probes, no graceful stop
            assert spec["terminationGracePeriodSeconds"] > 30, where  # gunicorn's graceful 30 s
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert "httpGet" in container[probe], where
            assert container["livenessProbe"]["httpGet"]["path"] == "/livez", where
            assert container["startupProbe"]["httpGet"]["path"] == "/livez", where
            assert container["startupProbe"]["failureThreshold"] >= 30, where


def test_web_workers_and_relays_are_ready_when_their_dependencies_are(
    chart: helm_python.Chart,
) -> None:
    deployments = of_kind(render(chart), "Deployment")
    for service in SERVICES:
        for target in TARGETS:
            [container] = pod_spec(deployments[name(f"{service}-{target}")])["containers"]
            assert container["readinessProbe"]["httpGet"] == {
                "path": "/health",
                "port": "http",
                "scheme": "HTTP",
            }
    [gateway] = pod_spec(deployments[name("gateway")])["containers"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert gateway[probe]["httpGet"] == {"path": "/livez", "port": "https", "scheme": "HTTPS"}
    assert {p["name"]: p["containerPort"] for p in gateway["ports"]} == {
        "https": 8443,
        "http": 8080,
    }


@pytest.mark.parametrize("values_file", SCENARIOS)
def test_autoscalers_budgets_and_services_point_at_this_releases_deployments(
    chart: helm_python.Chart, values_file: str
) -> None:
    manifests = render(chart, scenario(values_file))
    deployments = of_kind(manifests, "Deployment")

    def selected(selector: Mapping[str, str]) -> list[str]:
        return [d for d, m in deployments.items() if selector.items() <= pod_labels(m).items()]

    for hpa in of_kind(manifests, "HorizontalPodAutoscaler").values():
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
        assert target["name"] in deployments
        assert "replicas" not in deployments[target["name"]]["spec"]  # the autoscaler owns it
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    for pdb in of_kind(manifests, "PodDisruptionBudget").values():
        assert selected(pdb["spec"]["selector"]["matchLabels"]) == [pdb["metadata"]["name"]]
    for service in of_kind(manifests, "Service").values():
        [deployment] = selected(service["spec"]["selector"])
        ports = {
            p["name"] for c in pod_spec(deployments[deployment])["containers"] for p in c["ports"]
        }
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports


@pytest.mark.parametrize("values_file", SCENARIOS)
def test_a_budget_exactly_where_more_than_one_replica_runs(
    chart: helm_python.Chart, values_file: str
) -> None:
    manifests = render(chart, scenario(values_file))
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h
        for h in of_kind(manifests, "HorizontalPodAutoscaler").values()
    }
    budgets = of_kind(manifests, "PodDisruptionBudget")
    for deployment_name, deployment in of_kind(manifests, "Deployment").items():
        least = (
            hpas[deployment_name]["spec"]["minReplicas"]
            if deployment_name in hpas
            else deployment["spec"]["replicas"]
        )
        assert (deployment_name in budgets) == (least > 1), deployment_name


def test_only_web_targets_the_gateway_and_the_platform_router_have_a_service(
    chart: helm_python.Chart,
) -> None:
    services = of_kind(render(chart), "Service")
    assert set(services) == {name(f"{s}-web") for s in SERVICES} | {
        name("gateway"),
        name("platform"),
    }
    for service in SERVICES:
        spec = services[name(f"{service}-web")]["spec"]
        assert spec["type"] == "ClusterIP"
        assert spec["ports"] == [
            {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
        ]


def test_the_defaults_autoscale_web_and_workers_and_keep_two_relays(
    chart: helm_python.Chart,
) -> None:
    manifests = render(chart)
    hpas = of_kind(manifests, "HorizontalPodAutoscaler")
    deployments = of_kind(manifests, "Deployment")
    for service in SERVICES:
        web = hpas[name(f"{service}-web")]["spec"]
        assert (web["minReplicas"], web["maxReplicas"]) == (3, 10)  # the deployment guide's
        assert web["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
        assert name(f"{service}-worker") in hpas
        assert name(f"{service}-relay") not in hpas
        assert deployments[name(f"{service}-relay")]["spec"]["replicas"] == 2


# --- configuration and secrets -----------------------------------------------------------------


def config_checksums(manifests: list[Manifest]) -> dict[str, str]:
    return {
        n: d["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        for n, d in of_kind(manifests, "Deployment").items()
    }


def test_a_config_change_rolls_every_pod_and_nothing_else_does(chart: helm_python.Chart) -> None:
    before = config_checksums(render(chart))
    assert before == config_checksums(render(chart))  # stable
    assert before == config_checksums(
        render(chart, {"services": {"audit": {"worker": {"replicas": 5}}}})
    )
    for change in (
        {"config": {"logLevel": "debug"}},
        {"config": {"extraEnv": {"JWT_EXPIRY": "30m"}}},
    ):
        after = config_checksums(render(chart, change))
        assert set(after) == set(before)
        assert all(after[n] != before[n] for n in before), change


def test_the_config_map_holds_settings_and_no_secret(chart: helm_python.Chart) -> None:
    manifests = render(chart, scenario("scaled-values.yaml"))
    [config] = of_kind(manifests, "ConfigMap").values()
    data = config["data"]
    assert data["SPECTRAL_ENV"] == "production"
    assert data["AUTH_INTERNAL_URL"] == "http://spectral-auth-web:8000"
    assert data["VAR_DIR"] == "/var/lib/spectral"
    assert data["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4318"
    assert data["JWT_EXPIRY"] == "30m" and data["BUS_PREFETCH"] == "8"
    secret_names = ("SECRET", "KEY", "PASSWORD", "DATABASE_URL", "BROKER_URL", "REDIS_URL")
    assert not [k for k in data if any(s in k for s in secret_names)]
    for workload in of_kind(manifests, "Deployment").values():
        for container in containers(workload):
            refs = [s["configMapRef"]["name"] for s in container["envFrom"] if "configMapRef" in s]
            assert refs == [config["metadata"]["name"]]


@pytest.mark.parametrize("values_file", SCENARIOS)
def test_secrets_are_only_referenced_never_rendered(
    chart: helm_python.Chart, values_file: str
) -> None:
    manifests = render(chart, scenario(values_file))
    assert not [m for m in manifests if m["kind"] == "Secret"]
    for workload in (m for m in manifests if m["kind"] in WORKLOAD_KINDS):
        for container in containers(workload):
            assert not [e for e in container.get("env", []) if "valueFrom" in e]
            refs = secret_refs(container)
            if workload["metadata"]["name"] in (name("gateway"), name("platform")):
                assert refs == []  # nginx and the router proxy: no application secret
            else:
                assert len(refs) == 1, workload["metadata"]["name"]


def test_every_component_reads_the_default_secret(chart: helm_python.Chart) -> None:
    manifests = render(chart)
    for workload in (m for m in manifests if m["kind"] in WORKLOAD_KINDS):
        if workload["metadata"]["name"] not in (name("gateway"), name("platform")):
            for container in containers(workload):
                assert secret_refs(container) == ["spectral-secrets"]


def test_a_services_own_secret_is_honoured(chart: helm_python.Chart) -> None:
    manifests = render(chart, scenario("scaled-values.yaml"))
    deployments = of_kind(manifests, "Deployment")
    for service in SERVICES:
        for target in TARGETS:
            [container] = pod_spec(deployments[name(f"{service}-{target}")])["containers"]
            assert secret_refs(container) == [f"spectral-{service}-secrets"]
    [platform] = pod_spec(deployments[name("platform")])["containers"]
    assert secret_refs(platform) == []  # the router proxies and reads no secret
    [job] = of_kind(manifests, "Job").values()
    assert {s for c in containers(job) for s in secret_refs(c)} == {"spectral-migrations-secrets"}


def test_migrations_run_before_install_and_upgrade_with_the_configs_settings(
    chart: helm_python.Chart,
) -> None:
    manifests = render(chart)
    [job] = of_kind(manifests, "Job").values()
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert set(annotations["helm.sh/hook-delete-policy"].split(",")) == {
        "before-hook-creation",
        "hook-succeeded",
    }
    spec = job["spec"]
    assert spec["backoffLimit"] >= 0 and spec["activeDeadlineSeconds"] > 0
    assert spec["ttlSecondsAfterFinished"] > 0
    assert pod_spec(job)["restartPolicy"] == "Never"
    [upgrade] = pod_spec(job)["initContainers"]
    [declare] = pod_spec(job)["containers"]
    assert (upgrade["args"], declare["args"]) == (["db", "upgrade"], ["bus", "declare"])
    assert {upgrade["image"], declare["image"]} == {"spectral-all:0.1.0"}
    # Hooks run before the ConfigMap exists on a first install: the settings come inline.
    [config] = of_kind(manifests, "ConfigMap").values()
    assert env(upgrade) == env(declare) == config["data"]
    account = of_kind(manifests, "ServiceAccount")[pod_spec(job)["serviceAccountName"]]
    assert account["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(account["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        annotations["helm.sh/hook-weight"]
    )


def test_without_migrations_there_is_no_job(chart: helm_python.Chart) -> None:
    manifests = render(chart, {"migrations": {"enabled": False}})
    assert not of_kind(manifests, "Job")
    assert name("migrations") not in of_kind(manifests, "ServiceAccount")


def test_each_component_has_its_own_service_account_without_a_token(
    chart: helm_python.Chart,
) -> None:
    manifests = render(
        chart, {"services": {"reports": {"serviceAccountAnnotations": {"iam": "s3"}}}}
    )
    accounts = of_kind(manifests, "ServiceAccount")
    assert all(a["automountServiceAccountToken"] is False for a in accounts.values())
    deployments = of_kind(manifests, "Deployment")
    for service in SERVICES:
        for target in TARGETS:
            assert pod_spec(deployments[name(f"{service}-{target}")])["serviceAccountName"] == name(
                service
            )
    assert accounts[name("reports")]["metadata"]["annotations"] == {"iam": "s3"}
    assert "annotations" not in accounts[name("audit")]["metadata"]
    manifests = render(chart, scenario("minimal-values.yaml"))
    assert not of_kind(manifests, "ServiceAccount")
    assert {
        pod_spec(d)["serviceAccountName"] for d in of_kind(manifests, "Deployment").values()
    } == {"default"}


# --- backups -----------------------------------------------------------------------------------

BACKUP = {"backup": {"enabled": True}}


def backup_job(manifests: list[Manifest]) -> tuple[Manifest, dict[str, Any]]:
    """The backup CronJob and its one container."""
    cronjob = of_kind(manifests, "CronJob")[name("backup")]
    [container] = pod_spec(cronjob)["containers"]
    return cronjob, container


def backup_claim(cronjob: Manifest, container: dict[str, Any]) -> str:
    """The claim mounted at /backups."""
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == "/backups"]
    [volume] = [v for v in pod_spec(cronjob)["volumes"] if v["name"] == mount["name"]]
    return volume["persistentVolumeClaim"]["claimName"]


def test_backups_are_off_by_default(chart: helm_python.Chart) -> None:
    manifests = render(chart)
    assert not of_kind(manifests, "CronJob")
    assert not of_kind(manifests, "PersistentVolumeClaim")
    assert name("backup") not in of_kind(manifests, "ServiceAccount")
    assert "backup" not in json.dumps(of_kind(manifests, "NetworkPolicy"))


def test_the_backup_cronjob_runs_spectral_db_backup_nightly_into_a_kept_volume(
    chart: helm_python.Chart,
) -> None:
    manifests = render(chart, BACKUP)
    cronjob, container = backup_job(manifests)
    assert "helm.sh/hook" not in cronjob["metadata"].get("annotations", {})  # part of the release
    spec = cronjob["spec"]
    assert spec["schedule"] == "0 2 * * *"  # the deployment guide's 2 AM
    assert "timeZone" not in spec
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] == 3600
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 3)
    job = spec["jobTemplate"]["spec"]
    assert (job["backoffLimit"], job["activeDeadlineSeconds"]) == (1, 3600)
    pod = pod_spec(cronjob)
    assert pod["restartPolicy"] == "Never"
    assert container["image"] == "spectral-all:0.1.0"  # ENTRYPOINT spectral
    assert container["args"] == ["db", "backup", "--to", "/backups"]
    assert "command" not in container
    # The same hardening as every service pod; fsGroup makes the volume writable by uid 10001.
    [web] = pod_spec(of_kind(manifests, "Deployment")[name("auth-web")])["containers"]
    assert (
        pod["securityContext"]
        == pod_spec(of_kind(manifests, "Deployment")[name("auth-web")])["securityContext"]
    )
    assert pod["securityContext"]["fsGroup"] == 10001
    assert container["securityContext"] == web["securityContext"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["runAsUser"] == 10001
    assert pod["automountServiceAccountToken"] is False
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    # Settings from the ConfigMap (an ordinary resource, it exists), secrets by reference.
    [config] = of_kind(manifests, "ConfigMap").values()
    assert container["envFrom"] == [
        {"configMapRef": {"name": config["metadata"]["name"]}},
        {"secretRef": {"name": "spectral-secrets"}},
    ]
    assert {m["mountPath"] for m in container["volumeMounts"]} == WRITABLE_DIRS | {"/backups"}
    claim = of_kind(manifests, "PersistentVolumeClaim")[backup_claim(cronjob, container)]
    assert claim["metadata"]["name"] == name("backup")
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"  # uninstall
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert "storageClassName" not in claim["spec"]  # the cluster's default
    account = of_kind(manifests, "ServiceAccount")[pod["serviceAccountName"]]
    assert account["metadata"]["name"] == name("backup")
    assert "annotations" not in account["metadata"]  # not a hook
    assert account["automountServiceAccountToken"] is False


def test_the_backup_scenario_is_linted_validated_and_honoured(chart: helm_python.Chart) -> None:
    assert "backup-values.yaml" in SCENARIOS  # so the lint and schema tests above cover it
    manifests = render(chart, scenario("backup-values.yaml"))
    cronjob, container = backup_job(manifests)
    assert cronjob["spec"]["schedule"] == "30 1 * * *"
    assert cronjob["spec"]["timeZone"] == "America/Chicago"
    pod = pod_spec(cronjob)
    assert pod["nodeSelector"] == {"workload": "batch"}
    assert pod["tolerations"][0]["value"] == "batch"
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}
    assert secret_refs(container) == ["spectral-migrations-secrets"]  # reads every schema
    claim = of_kind(manifests, "PersistentVolumeClaim")[backup_claim(cronjob, container)]
    assert claim["spec"]["storageClassName"] == "gp3"
    assert claim["spec"]["resources"]["requests"]["storage"] == "100Gi"


def test_the_backup_reads_the_migrations_secret_unless_given_its_own(
    chart: helm_python.Chart,
) -> None:
    def secret(values: dict[str, Any]) -> list[str]:
        return secret_refs(backup_job(render(chart, merged(BACKUP, values)))[1])

    service_secret = {"services": {"audit": {"existingSecret": "spectral-audit-secrets"}}}
    assert secret(service_secret) == ["spectral-secrets"]
    migrations = {"migrations": {"existingSecret": "spectral-migrations-secrets"}}
    assert secret(migrations) == ["spectral-migrations-secrets"]
    own = merged(migrations, {"backup": {"existingSecret": "spectral-backup-secrets"}})
    assert secret(own) == ["spectral-backup-secrets"]


def test_an_existing_claim_is_mounted_and_none_is_created(chart: helm_python.Chart) -> None:
    values = {
        "backup": {"enabled": True, "persistentVolumeClaim": {"existingClaim": "nfs-backups"}}
    }
    manifests = render(chart, values)
    assert not of_kind(manifests, "PersistentVolumeClaim")
    assert backup_claim(*backup_job(manifests)) == "nfs-backups"


def test_without_service_accounts_the_backup_runs_as_the_named_one(
    chart: helm_python.Chart,
) -> None:
    manifests = render(chart, merged(scenario("minimal-values.yaml"), BACKUP))
    assert not of_kind(manifests, "ServiceAccount")
    assert pod_spec(backup_job(manifests)[0])["serviceAccountName"] == "default"


# --- per-service values ------------------------------------------------------------------------


def changed(before: list[Manifest], after: list[Manifest]) -> set[tuple[str, str]]:
    def index(manifests: list[Manifest]) -> dict[tuple[str, str], Manifest]:
        return {(m["kind"], m["metadata"]["name"]): m for m in manifests}

    old, new = index(before), index(after)
    return {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}


def test_scaling_one_services_worker_changes_only_that_deployment_and_autoscaler(
    chart: helm_python.Chart,
) -> None:
    override = {
        "services": {
            "governance": {
                "worker": {
                    "autoscaling": {"maxReplicas": 30},
                    "resources": {"requests": {"cpu": "1"}},
                    "extraEnv": {"BUS_PREFETCH": 4},
                }
            }
        }
    }
    before, after = render(chart), render(chart, override)
    assert changed(before, after) == {
        ("Deployment", name("governance-worker")),
        ("HorizontalPodAutoscaler", name("governance-worker")),
    }
    hpa = of_kind(after, "HorizontalPodAutoscaler")[name("governance-worker")]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 30)  # the rest from defaults
    [container] = pod_spec(of_kind(after, "Deployment")[name("governance-worker")])["containers"]
    assert container["resources"]["requests"] == {"cpu": "1", "memory": "256Mi"}
    assert env(container)["BUS_PREFETCH"] == "4"


def test_autoscaling_off_gives_fixed_replicas(chart: helm_python.Chart) -> None:
    override = {
        "services": {"billing": {"web": {"autoscaling": {"enabled": False}, "replicas": 4}}}
    }
    before, after = render(chart), render(chart, override)
    assert changed(before, after) == {
        ("Deployment", name("billing-web")),
        ("HorizontalPodAutoscaler", name("billing-web")),
    }
    assert name("billing-web") not in of_kind(after, "HorizontalPodAutoscaler")
    assert of_kind(after, "Deployment")[name("billing-web")]["spec"]["replicas"] == 4


def test_chart_wide_defaults_reach_every_service(chart: helm_python.Chart) -> None:
    deployments = of_kind(render(chart, scenario("scaled-values.yaml")), "Deployment")
    for service in SERVICES:
        assert deployments[name(f"{service}-web")]["spec"]["replicas"] == 2
    assert pod_spec(deployments[name("audit-worker")])["nodeSelector"] == {"workload": "bus"}
    assert "nodeSelector" not in pod_spec(deployments[name("auth-worker")])
    assert pod_spec(deployments[name("auth-web")])["imagePullSecrets"] == [{"name": "ghcr"}]
    assert pod_spec(deployments[name("auth-web")])["containers"][0]["image"] == (
        "ghcr.io/mercy-health/spectral-auth:0.1.0-rc.2"
    )


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"services": {"auht": {}}}, id="unknown service"),
        pytest.param({"services": {"auth": {"web": {"replicaz": 2}}}}, id="typo in a target"),
        pytest.param({"defaults": {"worker": {"replicas": "3"}}}, id="replicas as a string"),
        pytest.param(
            {"services": {"audit": {"worker": {"autoscaling": {"enabled": "yes"}}}}},
            id="enabled as a string",
        ),
        pytest.param({"gateway": {"service": {"type": "Loadbalancer"}}}, id="service type"),
        pytest.param({"config": {"logLevel": "verbose"}}, id="log level"),
        pytest.param({"config": {"extraEnv": {"NOT-A-NAME": "x"}}}, id="env name"),
        pytest.param({"networkPolicy": {"egress": {"databse": {}}}}, id="egress typo"),
        pytest.param({"existingSecret": ""}, id="no secret"),
        pytest.param({"backup": {"schedul": "0 2 * * *"}}, id="backup typo"),
        pytest.param({"backup": {"concurrencyPolicy": "forbid"}}, id="concurrency policy"),
        pytest.param(
            {"backup": {"persistentVolumeClaim": {"sise": "10Gi"}}}, id="backup claim typo"
        ),
        pytest.param({"backup": {"persistentVolumeClaim": {"size": "lots"}}}, id="claim size"),
    ],
)
def test_the_schema_refuses_typos_and_wrong_types(
    chart: helm_python.Chart, values: dict[str, Any]
) -> None:
    with pytest.raises(helm_python.HelmValuesError):
        chart.validate_schema(values)


def test_lint_fails_on_a_typo(chart: helm_python.Chart) -> None:
    report = helm_python.lint(CHART, values={"services": {"auth": {"wbe": {}}}}, strict=True)
    assert report["errors"] and any("wbe" in error for error in report["errors"])


# --- the gateway -------------------------------------------------------------------------------


def test_the_gateway_reaches_every_web_target_and_the_platform_router(
    chart: helm_python.Chart,
) -> None:
    manifests = render(chart)
    deployments = of_kind(manifests, "Deployment")
    services = of_kind(manifests, "Service")
    [gateway] = pod_spec(deployments[name("gateway")])["containers"]
    [platform] = pod_spec(deployments[name("platform")])["containers"]
    for service in SERVICES:
        upstream = f"{service.upper()}_UPSTREAM"
        assert env(gateway)[upstream] == f"{name(service)}-web:8000"
        assert env(platform)[upstream] == f"http://{name(service)}-web:8000"
        assert f"{name(service)}-web" in services
    assert env(gateway)["PLATFORM_UPSTREAM"] == f"{name('platform')}:8000"
    assert env(gateway)["GATEWAY_SERVER_NAME"] == "spectral.yourdomain.com"  # BASE_URL's host
    assert env(gateway)["TLS_CERT_PATH"] == "/etc/spectral/tls/tls.crt"
    assert env(gateway)["TLS_KEY_PATH"] == "/etc/spectral/tls/tls.key"
    [tls] = [v for v in pod_spec(deployments[name("gateway")])["volumes"] if "secret" in v]
    assert tls["secret"]["secretName"] == "spectral-tls"
    [mount] = [m for m in gateway["volumeMounts"] if m["name"] == tls["name"]]
    assert mount == {"name": tls["name"], "mountPath": "/etc/spectral/tls", "readOnly": True}


def test_the_gateway_is_a_load_balancer_by_default(chart: helm_python.Chart) -> None:
    manifests = render(chart)
    spec = of_kind(manifests, "Service")[name("gateway")]["spec"]
    assert spec["type"] == "LoadBalancer"
    assert {(p["port"], p["targetPort"]) for p in spec["ports"]} == {(443, "https"), (80, "http")}
    assert not of_kind(manifests, "Ingress")


def test_with_an_ingress_the_gateway_service_is_cluster_internal(
    chart: helm_python.Chart,
) -> None:
    manifests = render(chart, scenario("ingress-values.yaml"))
    service = of_kind(manifests, "Service")[name("gateway")]
    assert service["spec"]["type"] == "ClusterIP"
    assert "externalTrafficPolicy" not in service["spec"]
    [ingress] = of_kind(manifests, "Ingress").values()
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert (
        ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    )
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == "governance.mercy-health.example"
    [path] = rule["http"]["paths"]
    backend = path["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    assert ingress["spec"]["tls"] == [
        {"secretName": "spectral-ingress-tls", "hosts": ["governance.mercy-health.example"]}
    ]


# --- network policies --------------------------------------------------------------------------


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


def test_the_public_address_is_required_and_images_default_to_their_bare_names(
    chart: helm_python.Chart,
) -> None:
    with pytest.raises(Exception, match=r"config.baseUrl is required"):
        chart.render({}, name=RELEASE, namespace=NAMESPACE)
    images = {
        container["image"]
        for deployment in of_kind(render(chart), "Deployment").values()
        for container in pod_spec(deployment)["containers"]
    }
    assert f"spectral-governance:{chart.metadata['appVersion']}" in images
    assert all(image.startswith("spectral-") for image in images)
    registry = {"image": {"registry": "ghcr.io/acme/", "tag": "1.2.3"}}
    prefixed = {
        container["image"]
        for deployment in of_kind(render(chart, registry), "Deployment").values()
        for container in pod_spec(deployment)["containers"]
    }
    assert "ghcr.io/acme/spectral-governance:1.2.3" in prefixed
    assert all(image.startswith("ghcr.io/acme/spectral-") for image in prefixed)
