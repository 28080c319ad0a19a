"""The start-up probe of the `kubernetes` runtime: the configuration loads, the API server
answers, and NEO may list pods in the sandboxes' namespace. What cannot be checked from here
(that the network plugin enforces NetworkPolicies, that the nodes offer the seccomp profile or
runtime class) is stated as a fact to verify, never assumed silently.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubernetes import client as k8s
from kubernetes import config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from neo.sandbox.settings import SandboxSettings

if TYPE_CHECKING:
    from neo.sandbox.runtimes.probe import ProbeReport


def connect(settings: SandboxSettings) -> k8s.ApiClient:
    """A client of the configured cluster: the kubeconfig file when set, else the in-cluster
    service account, else the default kubeconfig."""
    conf = settings.kubernetes
    if conf.kubeconfig is not None:
        return config.new_client_from_config(config_file=str(conf.kubeconfig), context=conf.context)
    try:
        configuration = k8s.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return k8s.ApiClient(configuration)
    except ConfigException:
        return config.new_client_from_config(context=conf.context)


def probe_kubernetes(report: ProbeReport, settings: SandboxSettings) -> None:
    """Fill `report` for the kubernetes runtime: `report.kubernetes` is set when usable."""
    try:
        api = connect(settings)
    except (ConfigException, OSError) as exc:
        report.missing.append(f"kubernetes: no usable configuration ({exc})")
        return
    try:
        _check(report, settings, api)
    finally:
        if report.kubernetes is None:
            api.rest_client.pool_manager.clear()


def _check(report: ProbeReport, settings: SandboxSettings, api: k8s.ApiClient) -> None:
    conf = settings.kubernetes
    try:
        version = k8s.VersionApi(api).get_code(_request_timeout=10)
        k8s.CoreV1Api(api).list_namespaced_pod(conf.namespace, limit=1, _request_timeout=10)
    except ApiException as exc:
        report.missing.append(
            f"kubernetes: cannot list pods in namespace {conf.namespace} ({exc.status} "
            f"{exc.reason})"
        )
        return
    except HTTPError as exc:
        report.missing.append(f"kubernetes: the API server does not answer ({type(exc).__name__})")
        return
    report.facts["kubernetes"] = f"{version.git_version} at {api.configuration.host}"
    report.facts["kubernetes namespace"] = conf.namespace
    report.facts["kubernetes isolation"] = (
        f"seccomp {conf.seccomp_profile or 'RuntimeDefault'}, runtime class "
        f"{conf.runtime_class or 'default'}; egress denial needs a network plugin that "
        "enforces NetworkPolicy"
    )
    report.kubernetes = api
