"""The Helm chart (helm/spectral): lint-clean, valid Kubernetes for every version it supports, one
hardened Deployment per target, secrets only by reference, per-service scaling, migrations and
backups; its network policies are tested in test_helm_network_policies.py. Rendered offline with
Helm's SDK; no cluster."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import helm_python
import kubernetes_validate
import pytest

from helm_release import (
    BACKUP,
    CHART,
    KUBE_MINIMUM,
    KUBE_VERSIONS,
    NAMESPACE,
    RELEASE,
    SCENARIOS,
    SERVICES,
    TARGETS,
    WORKLOAD_KINDS,
    WRITABLE_DIRS,
    Manifest,
    containers,
    env,
    merged,
    name,
    of_kind,
    pod_labels,
    pod_spec,
    render,
    scenario,
    secret_refs,
)

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
        assert (web["minReplicas"], web["maxReplicas"]) == (3, 10)  # docs/operations.md#scaling
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
    assert spec["schedule"] == "0 2 * * *"  # docs/operations.md#database: daily at 2 AM
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
