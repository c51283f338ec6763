"""A small Kubernetes API client for the real-engine tests: enough REST to start a control
plane, read back what the program made and ask the API server what it refuses.

The tests talk to the API server as different users (the admin, the deploy agent from its
own kubeconfig), so a client is built from a kubeconfig's text: client certificates or a
bearer token, and the cluster's CA. Certificates given as data are written to a private
temporary directory for ``requests`` (which reads only files) and removed on close.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
import yaml

#: Every call is bounded: a stuck API server fails the test instead of hanging it.
TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class ApiError(Exception):
    """The API server's answer to a refused request: its HTTP code, reason and message."""

    code: int
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the REST API."""

    group_version: str
    plural: str
    namespaced: bool
    verbs: tuple[str, ...] = ()

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


class Client:
    """REST calls as one kubeconfig user. Use as a context manager, or call :meth:`close`."""

    def __init__(self, kubeconfig_text: str) -> None:
        config = yaml.safe_load(kubeconfig_text)
        contexts = {c["name"]: c["context"] for c in config["contexts"]}
        context = contexts[config["current-context"]]
        cluster = {c["name"]: c["cluster"] for c in config["clusters"]}[context["cluster"]]
        user = {u["name"]: u["user"] for u in config["users"]}[context["user"]]
        self.server: str = cluster["server"].rstrip("/")
        self._dir = tempfile.TemporaryDirectory(prefix="kube-client-")
        self._session = requests.Session()
        # Not the environment's: REQUESTS_CA_BUNDLE would replace our CA for every call
        # (requests' merge_environment_settings prefers it to Session.verify), and an
        # HTTP(S)_PROXY must never carry a loopback call elsewhere.
        self._session.trust_env = False
        self._session.verify = self._file(cluster, "certificate-authority", "ca.crt")
        if "token" in user:
            self._session.headers["Authorization"] = f"Bearer {user['token']}"
        elif "client-certificate-data" in user or "client-certificate" in user:
            self._session.cert = (
                self._file(user, "client-certificate", "client.crt"),
                self._file(user, "client-key", "client.key"),
            )
        self._discovery: dict[tuple[str, str], Resource] | None = None

    @classmethod
    def from_file(cls, path: Path) -> Client:
        return cls(path.read_text())

    def _file(self, section: Mapping[str, Any], field: str, name: str) -> str:
        """A kubeconfig field given as a path or as base64 data, as a file path."""
        if f"{field}-data" in section:
            path = Path(self._dir.name) / name
            path.write_bytes(base64.b64decode(section[f"{field}-data"]))
            path.chmod(0o600)
            return str(path)
        return str(section[field])

    def close(self) -> None:
        self._session.close()
        self._dir.cleanup()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- raw REST

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        timeout: float = TIMEOUT_SECONDS,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One call; the decoded JSON answer, or :class:`ApiError` with the server's words."""
        url = self.server + path + (f"?{urlencode(query)}" if query else "")
        sent = dict(headers or {})
        if body is not None:
            sent["Content-Type"] = content_type
        response = self._session.request(
            method,
            url,
            data=json.dumps(body) if body is not None else None,
            headers=sent or None,
            timeout=timeout,
        )
        if response.status_code >= 400:
            try:
                status = response.json()
                raise ApiError(response.status_code, status.get("reason", ""),
                               status.get("message", response.text))
            except ValueError:
                raise ApiError(response.status_code, "", response.text) from None
        return response.json() if response.content else {}

    def get_text(self, path: str) -> str:
        response = self._session.get(self.server + path, timeout=TIMEOUT_SECONDS)
        if response.status_code >= 400:
            raise ApiError(response.status_code, "", response.text)
        return response.text

    # ---------------------------------------------------------------- discovery

    def resources(self) -> dict[tuple[str, str], Resource]:
        """Every served kind, by (apiVersion, kind), from the server's discovery documents."""
        if self._discovery is None:
            found: dict[tuple[str, str], Resource] = {}
            versions = ["v1"]
            for group in self.request("GET", "/apis").get("groups", []):
                versions += [v["groupVersion"] for v in group["versions"]]
            for gv in versions:
                path = "/api/v1" if gv == "v1" else f"/apis/{gv}"
                for r in self.request("GET", path).get("resources", []):
                    if "/" in r["name"]:
                        continue  # subresources
                    found[(gv, r["kind"])] = Resource(gv, r["name"], r["namespaced"],
                                                      tuple(r.get("verbs", ())))
            self._discovery = found
        return self._discovery

    def forget_discovery(self) -> None:
        """New CRDs were installed: read the discovery documents again on next use."""
        self._discovery = None

    def resource(self, api_version: str, kind: str) -> Resource:
        key = (api_version, kind)
        if key not in self.resources():
            self.forget_discovery()
        return self.resources()[key]

    # ---------------------------------------------------------------- objects

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None = None) -> dict[str, Any]:
        return self.request("GET", self.resource(api_version, kind).path(namespace, name))

    def exists(self, api_version: str, kind: str, name: str,
               namespace: str | None = None) -> bool:
        try:
            self.get(api_version, kind, name, namespace)
        except ApiError as exc:
            if exc.code == 404:
                return False
            raise
        return True

    def list(self, api_version: str, kind: str, namespace: str | None = None,
             **query: str) -> list[dict[str, Any]]:
        answer = self.request("GET", self.resource(api_version, kind).path(namespace),
                              query=query or None)
        return list(answer.get("items", []))

    def create(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """POST ``obj``; with ``dry_run`` the server authorizes, admits and validates it
        (ValidatingAdmissionPolicies included) without storing anything."""
        meta = obj["metadata"]
        resource = self.resource(obj["apiVersion"], obj["kind"])
        return self.request("POST", resource.path(meta.get("namespace")), obj,
                            query={"dryRun": "All"} if dry_run else None)

    def patch(self, api_version: str, kind: str, name: str, patch: Mapping[str, Any], *,
              namespace: str | None = None, dry_run: bool = False,
              subresource: str = "") -> dict[str, Any]:
        """A JSON merge patch."""
        path = self.resource(api_version, kind).path(namespace, name)
        if subresource:
            path += f"/{subresource}"
        return self.request("PATCH", path, patch, content_type="application/merge-patch+json",
                            query={"dryRun": "All"} if dry_run else None)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None, *,
               dry_run: bool = False) -> dict[str, Any]:
        return self.request("DELETE", self.resource(api_version, kind).path(namespace, name),
                            query={"dryRun": "All"} if dry_run else None)

    def apply(self, obj: Mapping[str, Any], manager: str = "binder-e2e") -> dict[str, Any]:
        """Server-side apply of ``obj`` (created or updated)."""
        meta = obj["metadata"]
        resource = self.resource(obj["apiVersion"], obj["kind"])
        return self.request(
            "PATCH", resource.path(meta.get("namespace"), meta["name"]), obj,
            content_type="application/apply-patch+yaml",
            query={"fieldManager": manager, "force": "true"},
        )

    def iter_all(self, namespace: str | None = None) -> Iterator[dict[str, Any]]:
        """Every listable object of every served kind (in ``namespace``, or everywhere)."""
        for (api_version, kind), resource in sorted(self.resources().items()):
            if (namespace and not resource.namespaced) or "list" not in resource.verbs:
                continue
            try:
                items = self.list(api_version, kind, namespace)
            except ApiError as exc:
                if exc.code in (404, 405):
                    continue
                raise
            for item in items:
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                yield item
