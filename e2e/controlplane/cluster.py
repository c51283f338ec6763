"""A local Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (simulated nodes), built by ``make e2e-tools`` into ``bin/``.

What it gives the program, and why each setting:

* **Loopback only.** Every component listens on 127.0.0.1 at ports chosen free at start, and
  the API server never dials a Service or pod address: the webhook admission plugins are
  off (``--disable-admission-plugins``), so a chart's ValidatingWebhookConfiguration (cert-
  manager's) is stored but never called, and no APIService points at a Service. kwok gives
  pods addresses from a range nobody routes and serves nothing itself (no
  ``--server-address``).
* **Real security.** TLS with a CA of its own, x509 client certificates, RBAC authorization,
  a service-account issuer with its signing key, and the controller manager's token and
  root-CA controllers. PodSecurity and ValidatingAdmissionPolicy are default admission
  plugins of the API server and stay on (kubernetes ``pkg/kubeapiserver/options/plugins.go``:
  https://github.com/kubernetes/kubernetes/blob/v1.36.3/pkg/kubeapiserver/options/plugins.go).
* **Nodes like our pools.** kwok nodes labelled as our core and user pools (the user nodes
  tainted as z2jh expects); kube-scheduler places pods, with a second profile for
  JupyterHub's user scheduler; kwok's stages make pods ready, Job pods complete, PVCs bound
  (a default StorageClass ``kwok-volume``) and LoadBalancer Services addressed.
* **Its own directory and ports**, so two instances never collide, and everything is removed
  by :meth:`ControlPlane.stop` -- also when the test that started it fails; a control plane
  started for one process dies with it (``PR_SET_PDEATHSIG``) unless it is kept
  (``make cluster-up``).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from e2e.controlplane.certs import Certificates, make_certificates
from e2e.kube import ApiError, Client

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / "bin"
#: Our own kwok stages (committed); kwok's upstream stages are copied from its module into
#: ``bin/kwok-stages/`` by ``make e2e-tools`` (e2e/tools/build.py).
OUR_STAGES = Path(__file__).resolve().parent / "stages"
UPSTREAM_STAGES = BIN / "kwok-stages"

SERVICE_RANGE = "10.96.0.0/16"
#: The first address of the service range: the ``kubernetes`` Service's ClusterIP.
KUBERNETES_SERVICE_IP = "10.96.0.1"
#: kwok's pod addresses: never routed, never dialled.
POD_RANGE = "10.244.0.1/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"

#: The schedulers pods may name: the default one, and JupyterHub's user scheduler (z2jh
#: ``jupyterhub.user-scheduler.fullname``: ``<release>-user-scheduler``; our BinderHub
#: release is ``binderhub``), which the chart runs as a Deployment that kwok does not run.
SCHEDULER_NAMES = ("default-scheduler", "binderhub-user-scheduler")

#: Labels and taints of the simulated nodes: our pools as the program's stacks describe them
#: (hub.jupyter.org/node-purpose, and the user pool's dedicated taint, as z2jh expects:
#: https://z2jh.jupyter.org/en/stable/administrator/optimization.html#using-a-dedicated-node-pool-for-users).
CORE_LABELS = {"hub.jupyter.org/node-purpose": "core"}
USER_LABELS = {"hub.jupyter.org/node-purpose": "user"}
USER_TAINT = {"key": "hub.jupyter.org/dedicated", "value": "user", "effect": "NoSchedule"}
NODE_CAPACITY = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "200Gi"}

#: How long a component may take to become ready; the whole start takes seconds.
READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 10


class ControlPlaneError(RuntimeError):
    """The control plane could not start (or stop); the message names the component and
    where its log is."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing_binaries(bin_dir: Path = BIN) -> list[str]:
    """The tools this control plane needs that ``bin/`` lacks."""
    needed = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]
    absent = [n for n in needed if not (bin_dir / n).is_file()]
    if not UPSTREAM_STAGES.is_dir():
        absent.append("kwok-stages/")
    return absent


def _die_with_parent() -> None:
    """In the child, before exec: receive SIGKILL when the process that started it dies, so a
    test process killed mid-run leaves no control plane behind (Linux ``prctl``)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _kubeconfig(server: str, certs: Certificates, stem: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "binder-e2e", "cluster": {
            "server": server, "certificate-authority": str(certs.ca)}}],
        "users": [{"name": stem, "user": {
            "client-certificate": str(certs.client_cert(stem)),
            "client-key": str(certs.client_key(stem))}}],
        "contexts": [{"name": "binder-e2e", "context": {"cluster": "binder-e2e", "user": stem}}],
        "current-context": "binder-e2e",
    }


def inline_kubeconfig(path: Path) -> str:
    """The kubeconfig at ``path`` with its certificate files inlined as ``*-data``, as a
    stack secret or another machine needs it."""
    config = yaml.safe_load(path.read_text())
    for section, fields in (("clusters", ("certificate-authority",)),
                            ("users", ("client-certificate", "client-key"))):
        for entry in config[section]:
            body = entry["cluster" if section == "clusters" else "user"]
            for name in fields:
                if name in body:
                    data = Path(body.pop(name)).read_bytes()
                    body[f"{name}-data"] = base64.b64encode(data).decode()
    return yaml.safe_dump(config, sort_keys=False)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


@dataclass
class ControlPlane:
    """One control plane in ``directory``. :meth:`start` it, use :attr:`kubeconfig`, then
    :meth:`stop` it (or use it as a context manager)."""

    directory: Path
    bin_dir: Path = BIN
    keep: bool = False
    """Started by ``make cluster-up``: outlives the process that started it."""
    processes: list[Process] = field(default_factory=list)
    server: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds each start phase took (certificates, etcd, apiserver, ..., nodes)."""

    @property
    def kubeconfig(self) -> Path:
        """The admin's kubeconfig (system:masters), file references to the certificates."""
        return self.directory / "admin.kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    def log(self, name: str) -> Path:
        return self.directory / "logs" / f"{name}.log"

    # ------------------------------------------------------------------ start

    def start(self) -> ControlPlane:
        missing = missing_binaries(self.bin_dir)
        if missing:
            raise ControlPlaneError(
                f"bin/ lacks {', '.join(missing)}: run `make e2e-tools` first "
                "(it builds them from the pinned Go modules in e2e/tools/)"
            )
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _phase(self, name: str, start: float) -> None:
        self.timings[name] = time.monotonic() - start

    def _start(self) -> None:
        began = time.monotonic()
        (self.directory / "logs").mkdir(parents=True, exist_ok=True)
        certs = make_certificates(self.directory / "pki", KUBERNETES_SERVICE_IP)
        self._phase("certificates", began)

        t = time.monotonic()
        etcd_client, etcd_peer, apiserver_port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_client}"
        self._spawn("etcd", [
            "--name=e2e", f"--data-dir={self.directory / 'etcd'}",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-cluster=e2e=http://127.0.0.1:{etcd_peer}",
            # Throwaway data: no fsync (etcd's own test setting), small quota.
            "--unsafe-no-fsync", "--quota-backend-bytes=1073741824",
            "--log-level=warn",
        ])
        self._wait("etcd", lambda: requests.get(f"{etcd_url}/health", timeout=2).json()
                   .get("health") == "true")
        self._phase("etcd", t)

        t = time.monotonic()
        self.server = f"https://127.0.0.1:{apiserver_port}"
        for stem in ("admin", "kube-controller-manager", "kube-scheduler", "kwok"):
            path = self.directory / f"{stem}.kubeconfig"
            path.write_text(yaml.safe_dump(_kubeconfig(self.server, certs, stem)))
            path.chmod(0o600)
        self._spawn("kube-apiserver", [
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={apiserver_port}",
            f"--tls-cert-file={certs.serving_cert}", f"--tls-private-key-file={certs.serving_key}",
            f"--client-ca-file={certs.ca}",
            "--authorization-mode=RBAC",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={certs.service_account_pub}",
            f"--service-account-signing-key-file={certs.service_account_key}",
            # Webhooks would make the API server dial Service or pod addresses.
            "--disable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
            # dind and node-exporter are privileged; Pod Security decides per namespace.
            "--allow-privileged=true",
            # Its own address stays out of the `kubernetes` Endpoints (loopback is refused
            # there); nothing in the tests dials the Service.
            "--endpoint-reconciler-type=none",
            f"--cert-dir={self.directory / 'pki'}",
            "--profiling=false", "-v=1",
        ])
        admin = Client.from_file(self.kubeconfig)
        try:
            self._wait("kube-apiserver", lambda: admin.get_text("/readyz") == "ok")
            self._phase("kube-apiserver", t)

            t = time.monotonic()
            self._spawn("kube-controller-manager", [
                f"--kubeconfig={self.directory / 'kube-controller-manager.kubeconfig'}",
                f"--service-account-private-key-file={certs.service_account_key}",
                f"--root-ca-file={certs.ca}",
                "--use-service-account-credentials=true",
                "--leader-elect=false", "--secure-port=0", "-v=1",
            ])
            scheduler_config = self.directory / "scheduler.yaml"
            scheduler_config.write_text(yaml.safe_dump({
                "apiVersion": "kubescheduler.config.k8s.io/v1",
                "kind": "KubeSchedulerConfiguration",
                "clientConnection": {
                    "kubeconfig": str(self.directory / "kube-scheduler.kubeconfig")},
                "leaderElection": {"leaderElect": False},
                "profiles": [{"schedulerName": n} for n in SCHEDULER_NAMES],
            }))
            self._spawn("kube-scheduler", [
                f"--config={scheduler_config}", "--secure-port=0", "-v=1",
            ])
            self._spawn("kwok", [
                f"--kubeconfig={self.directory / 'kwok.kubeconfig'}",
                "--manage-all-nodes=true", f"--cidr={POD_RANGE}", "--node-ip=10.244.255.254",
                # Node heartbeats are Leases that kwok renews (stage node-heartbeat-with-lease);
                # without one the node controller marks every node, and so every pod, not
                # ready after its grace period, and Helm's waits hang. kwokctl sets the same.
                "--node-lease-duration-seconds=40",
                *(f"--config={p}" for p in self.stage_files()),
            ])
            # The token controller and the service-account controller run: every namespace
            # gets its `default` ServiceAccount and the root CA ConfigMap.
            self._wait("kube-controller-manager", lambda: admin.exists(
                "v1", "ConfigMap", "kube-root-ca.crt", "default"))
            self._wait("kube-controller-manager", lambda: admin.exists(
                "v1", "ServiceAccount", "default", "default"))
            self._phase("controllers", t)

            t = time.monotonic()
            self._seed(admin)
            self._wait("kwok", lambda: self._nodes_ready(admin))
            self._phase("nodes", t)
        finally:
            admin.close()
        self._save_state()
        self.timings["total"] = time.monotonic() - began

    def kubernetes_version(self) -> str:
        """The API server's ``gitVersion``."""
        with Client.from_file(self.kubeconfig) as admin:
            return str(admin.request("GET", "/version")["gitVersion"])

    def peers(self) -> set[str]:
        """The remote addresses of every TCP connection the components have open or are
        opening (``/proc/<pid>/fd`` sockets matched in ``/proc/net/tcp``/``tcp6``)."""
        inodes: set[str] = set()
        for p in self.processes:
            fd_dir = Path(f"/proc/{p.popen.pid}/fd")
            with contextlib.suppress(OSError):
                for fd in fd_dir.iterdir():
                    with contextlib.suppress(OSError):
                        target = os.readlink(fd)
                        if target.startswith("socket:["):
                            inodes.add(target[len("socket:["):-1])
        peers = set()
        for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
            with contextlib.suppress(OSError):
                for line in Path(table).read_text().splitlines()[1:]:
                    fields = line.split()
                    remote, state, inode = fields[2], fields[3], fields[9]
                    # 01 ESTABLISHED, 02 SYN_SENT (include/net/tcp_states.h)
                    if inode in inodes and state in ("01", "02"):
                        peers.add(_address(remote.split(":")[0], size))
        return peers

    def stage_files(self) -> list[Path]:
        """kwok's upstream stages (copied from its module at build time) and ours."""
        return sorted(UPSTREAM_STAGES.glob("*.yaml")) + sorted(OUR_STAGES.glob("*.yaml"))

    def _spawn(self, name: str, args: Sequence[str]) -> None:
        binary = self.bin_dir / name
        log = self.log(name)
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [str(binary), *args],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.directory, start_new_session=True,
                preexec_fn=None if self.keep else _die_with_parent,
            )
        self.processes.append(Process(name, popen, log))

    def _wait(self, name: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        last = "not ready"
        while time.monotonic() < deadline:
            for p in self.processes:
                if p.popen.poll() is not None:
                    raise ControlPlaneError(
                        f"{p.name} exited with code {p.popen.returncode} while waiting for "
                        f"{name}; its log: {p.log}\n{_tail(p.log)}"
                    )
            try:
                if ready():
                    return
            except (requests.RequestException, ApiError, ValueError) as exc:
                last = str(exc)[:500]
            time.sleep(0.1)
        log = self.log(name)
        raise ControlPlaneError(
            f"{name} was not ready after {READY_TIMEOUT_SECONDS} s (last answer: {last}); "
            f"its log: {log}\n{_tail(log)}"
        )

    def _seed(self, admin: Client) -> None:
        """The objects a real cluster of ours has before the program runs: nodes like our
        pools and a default StorageClass."""
        nodes: list[tuple[str, int, dict[str, str], list[dict[str, str]]]] = [
            ("core", i, CORE_LABELS, []) for i in range(2)
        ]
        nodes += [("user", i, USER_LABELS, [USER_TAINT]) for i in range(2)]
        for pool, i, labels, taints in nodes:
            name = f"kwok-{pool}-{i}"
            admin.create({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {
                    **labels, "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64", "type": "kwok"},
                    "annotations": {"kwok.x-k8s.io/node": "fake"}},
                "spec": {"taints": taints},
                "status": {"capacity": NODE_CAPACITY, "allocatable": NODE_CAPACITY},
            })
        # kwok's volume stages bind claims of this class (kwok kustomize/stage/volume/fast).
        admin.create({
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "kwok-volume", "annotations": {
                "storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "kwok.x-k8s.io/volume",
            "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
        })

    @staticmethod
    def _nodes_ready(admin: Client) -> bool:
        nodes = admin.list("v1", "Node")
        return bool(nodes) and all(
            any(c["type"] == "Ready" and c["status"] == "True"
                for c in n.get("status", {}).get("conditions", []))
            for n in nodes
        )

    def _save_state(self) -> None:
        self.state_file.write_text(json.dumps({
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "pids": {p.name: p.popen.pid for p in self.processes},
        }, indent=2))

    # ------------------------------------------------------------------ stop

    def stop(self, remove: bool = True) -> None:
        """Stop every component (the last started first) and remove the directory."""
        for p in reversed(self.processes):
            _terminate(p.popen.pid, p.popen.poll)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(timeout=1)
        self.processes.clear()
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _address(hex_address: str, size: int) -> str:
    """An address as /proc/net/tcp writes it (little-endian 32-bit words) in text form."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, size, 4))
    return str(ipaddress.ip_address(words))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) counts as gone.
    with contextlib.suppress(OSError):
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
    return True


def _terminate(pid: int, exit_code: Callable[[], int | None] | None = None) -> None:
    """SIGTERM the process group ``pid`` leads, then SIGKILL it if it lingers.
    ``exit_code``: the child's ``Popen.poll`` (reaps it), when this process started it."""
    def gone() -> bool:
        return exit_code() is not None if exit_code else not _alive(pid)

    for sig, grace in ((signal.SIGTERM, STOP_TIMEOUT_SECONDS), (signal.SIGKILL, 2.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if gone():
                return
            time.sleep(0.05)


def stop_kept(directory: Path) -> bool:
    """Stop a control plane another process started in ``directory`` (``make cluster-down``)
    and remove the directory. False if there was none."""
    state_file = directory / "state.json"
    if not state_file.is_file():
        existed = directory.exists()
        shutil.rmtree(directory, ignore_errors=True)
        return existed
    state = json.loads(state_file.read_text())
    for pid in reversed(list(state.get("pids", {}).values())):
        if _alive(pid):
            _terminate(pid)
    shutil.rmtree(directory, ignore_errors=True)
    return True


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("  | " + line for line in text[-lines:])


@contextlib.contextmanager
def running(parent: Path | None = None, **kwargs: Any) -> Iterator[ControlPlane]:
    """A control plane in a new directory (under ``parent``, or the system's temporary
    directory), stopped and removed on exit whatever happens inside."""
    directory = Path(tempfile.mkdtemp(prefix="binder-e2e-cluster-", dir=parent))
    plane = ControlPlane(directory, **kwargs)
    try:
        yield plane.start()
    finally:
        plane.stop()
