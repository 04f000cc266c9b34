"""Kubernetes manifests, validated offline against the Kubernetes schemas (kubernetes-validate, strict).

No cluster runs here. The KubeRay RayService is a custom resource, not in those schemas: its pod templates
are validated as core PodTemplates, and its Serve config is checked against this package.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
VERSION = "1.33.0"


def documents() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(kind: str) -> dict[str, Any]:
    return next(doc for doc in documents() if doc["kind"] == kind)


@pytest.mark.parametrize(
    "kind", ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"]
)
def test_manifest_is_valid_against_the_kubernetes_schema(kind: str) -> None:
    kubernetes_validate.validate(by_kind(kind), VERSION, strict=True)


def test_the_validator_catches_a_broken_manifest() -> None:
    broken = by_kind("Deployment")
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = ["http"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)


def test_deployment_probes_limits_and_hardening() -> None:
    spec = by_kind("Deployment")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "management"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "management"}
    assert container["startupProbe"]["httpGet"] == {"path": "/ready", "port": "management"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["HATESPEECH_MANAGEMENT_PORT"] == str(ports["management"]) != str(ports["http"])
    service_ports = [p["targetPort"] for p in by_kind("Service")["spec"]["ports"]]
    assert "management" not in service_ports  # the probes' port is not published
    annotations = by_kind("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(ports["management"])
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys() <= container["resources"]["limits"].keys()
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    hpa, pdb = by_kind("HorizontalPodAutoscaler")["spec"], by_kind("PodDisruptionBudget")["spec"]
    assert hpa["scaleTargetRef"]["name"] == by_kind("Deployment")["metadata"]["name"]
    assert pdb["selector"]["matchLabels"] == by_kind("Deployment")["spec"]["selector"]["matchLabels"]


def test_rayservice_pods_are_valid_and_its_serve_config_imports() -> None:
    service = by_kind("RayService")
    assert service["apiVersion"] == "ray.io/v1"
    cluster = service["spec"]["rayClusterConfig"]
    templates = [cluster["headGroupSpec"]["template"], *(g["template"] for g in cluster["workerGroupSpecs"])]
    for template in templates:
        pod_template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": template}
        kubernetes_validate.validate(pod_template, VERSION, strict=True)
        container = template["spec"]["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    import ray

    assert cluster["rayVersion"] == ray.__version__
    config = yaml.safe_load(service["spec"]["serveConfigV2"])
    (application,) = config["applications"]
    module, _, name = application["import_path"].partition(":")
    builder = getattr(importlib.import_module(module), name)
    assert callable(builder)
    from hatespeech.scale.serve import parse_autoscale

    assert parse_autoscale(application["args"]["autoscale"]) == (2, 20)


def test_ray_keeps_its_dashboard_inside_and_secrets_out_of_the_runtime_environment() -> None:
    service = by_kind("RayService")
    config = yaml.safe_load(service["spec"]["serveConfigV2"])
    env = config["applications"][0]["runtime_env"]["env_vars"]
    from hatespeech.scale.serve import SECRET_VARIABLES

    assert not SECRET_VARIABLES & set(env)  # the dashboard shows a runtime environment
    assert env["HATESPEECH_API_KEY_FILE"].startswith("/etc/hatespeech/") and "HATESPEECH_DATABASE_URL_FILE" in env
    cluster = service["spec"]["rayClusterConfig"]
    templates = [cluster["headGroupSpec"]["template"], *(g["template"] for g in cluster["workerGroupSpecs"])]
    policy = by_kind("NetworkPolicy")["spec"]
    for template in templates:
        assert policy["podSelector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
        mounts = {m["mountPath"] for m in template["spec"]["containers"][0]["volumeMounts"]}
        assert {"/etc/hatespeech/keys", "/etc/hatespeech/database"} <= mounts
    open_rule, inside_rule = policy["ingress"]
    assert "from" not in open_rule and [p["port"] for p in open_rule["ports"]] == [8000]  # only Serve is open
    assert "ports" not in inside_rule and len(inside_rule["from"]) == 2  # the rest: own pods and the operator
