"""The Kubernetes API as the launcher uses it: RayJobs in one namespace, errors as `ApiError`.

Only ``get``, ``list``, ``create`` and ``delete`` on ``rayjobs.ray.io`` are called (status is read
from the object itself, not the ``/status`` subresource), matching the launcher's Role.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, Protocol

from musicgen.errors import ConfigError, MusicgenError
from musicgen.schedule.config import LauncherConfig
from musicgen.schedule.rayjob_body import GROUP, PLURAL, VERSION

log = logging.getLogger("musicgen.schedule")


class CustomObjects(Protocol):
    """The part of ``kubernetes.client.CustomObjectsApi`` the launcher uses."""

    def create_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any: ...
    def get_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any: ...
    def list_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any: ...
    def delete_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any: ...


class ApiError(MusicgenError):
    """A Kubernetes API call failed; ``status`` is the HTTP status (0: no response)."""

    def __init__(self, action: str, status: int, message: str) -> None:
        super().__init__(f"{action}: HTTP {status or 'n/a'}: {message}")
        self.status = status


class RayJobs:
    """RayJobs in one namespace, with API failures turned into ``ApiError``."""

    def __init__(self, api: CustomObjects, namespace: str, request_timeout_s: float) -> None:
        self.api = api
        self.namespace = namespace
        self.timeout = request_timeout_s

    def _call(self, action: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return method(
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                *args,
                _request_timeout=self.timeout,
                **kwargs,
            )
        except ApiException as exc:
            raise ApiError(action, int(exc.status or 0), _api_message(exc)) from exc
        except (HTTPError, OSError) as exc:
            raise ApiError(action, 0, f"{type(exc).__name__}: {exc}") from exc

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Creates ``body``; 409 raises ApiError(status=409)."""
        name = body["metadata"]["name"]
        return dict(
            self._call(
                f"create {self.namespace}/{name}", self.api.create_namespaced_custom_object, body
            )
        )

    def get(self, name: str) -> dict[str, Any]:
        """The whole object, status included (plain ``get``: no ``rayjobs/status`` permission)."""
        return dict(
            self._call(f"get {self.namespace}/{name}", self.api.get_namespaced_custom_object, name)
        )

    def list(self, selector: str) -> list[dict[str, Any]]:
        """RayJobs matching the label selector."""
        result = self._call(
            f"list {self.namespace} -l {selector}",
            self.api.list_namespaced_custom_object,
            label_selector=selector,
        )
        return list(result.get("items") or [])

    def delete(self, name: str) -> None:
        """Deletes ``name``; its RayCluster and submitter Job are garbage-collected after it."""
        self._call(
            f"delete {self.namespace}/{name}",
            self.api.delete_namespaced_custom_object,
            name,
            propagation_policy="Background",
        )


def _api_message(exc: Any) -> str:
    import json

    try:
        return str(json.loads(exc.body).get("message") or exc.reason)
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason or exc)


def make_api(cfg: LauncherConfig) -> CustomObjects:
    """A CustomObjectsApi from in-cluster config (in a pod, no --kubeconfig) or a kubeconfig."""
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        if cfg.kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)
            source = "in-cluster service account"
        else:
            config.load_kube_config(
                config_file=cfg.kubeconfig, context=cfg.context, client_configuration=configuration
            )
            source = f"kubeconfig {cfg.kubeconfig or '~/.kube/config'}"
    except (config.ConfigException, OSError) as exc:
        raise ConfigError(f"no Kubernetes credentials: {exc}") from exc
    log.info("API server %s (%s)", configuration.host, source)
    api: CustomObjects = client.CustomObjectsApi(client.ApiClient(configuration))
    return api
