"""Reaching Ray: a cluster of this machine alone, or one that is already running.

``connect(None)`` starts a private local cluster for this render: every Ray server
listens on 127.0.0.1 only, usage statistics are off, there is no dashboard, and its
session files go to a temporary folder of its own that :func:`shutdown` removes (and
that the next render removes if this one was killed). ``connect("HOST:PORT")`` joins a
cluster started with ``ray start --head`` (and ``ray start --address=...`` on the other
machines). If this process already talks to a Ray cluster (``ray.init`` was called,
as in the tests), that cluster is used and left running.

Ray is imported here, inside the functions, and only by ``render --ray``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from storyboard.errors import UsageError
from storyboard.files import process_alive
from storyboard.interrupts import shielded

LOCAL = "local"
INSTALL_HINT = "render --ray needs Ray: install storyboard[farm] (pip install 'storyboard[farm]')"
SESSION_PREFIX = "sbray-"  # short: Ray's socket paths under it must fit in 107 bytes
_SESSION = re.compile(rf"^{SESSION_PREFIX}(\d+)-")


@dataclass(frozen=True)
class Cluster:
    """The Ray cluster a render uses: ``address`` (for messages), whether this process started
    the connection (``owned``: :func:`shutdown` ends it) and the local cluster's session folder."""

    address: str
    owned: bool
    local: bool
    session: Path | None = None

    def describe(self) -> str:
        return f"a local Ray cluster on 127.0.0.1 ({self.address})" if self.local else f"the Ray cluster at {self.address}"


def require_ray(address: str | None = None) -> Any:
    """The ``ray`` module; a :class:`UsageError` (exit 2) saying what to install when it is missing.
    Joining a cluster at ``address``: its form is checked first, and Ray's waits are bounded."""
    if address not in (None, LOCAL):
        if "://" not in str(address) and str(address).strip() != "auto":
            parse_address(str(address))
        bound_ray_waits()
    try:
        import ray
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return ray


def is_loopback(address: str) -> bool:
    """Whether ``address`` (``HOST:PORT``) names this machine's loopback interface."""
    host = address.rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def connect(address: str | None = None, cpus: int | None = None) -> Cluster:
    """Start a private local cluster (``address`` None or ``"local"``; ``cpus``: its CPU count, default
    this machine's) or join the cluster at ``address``. Raises :class:`UsageError` if it cannot be reached or
    joined, having stopped whatever ``ray.init`` started."""
    ray = require_ray()
    local = address in (None, LOCAL)
    if not local:
        reachable(str(address))  # (at once, where Ray would wait minutes)
    if ray.is_initialized():
        gcs = ray.get_runtime_context().gcs_address
        return Cluster(gcs, owned=False, local=is_loopback(gcs))
    if local or is_loopback(str(address)):
        _loopback_only()
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
    if not local:
        try:
            _init(ray, None, address=address, **quiet)
        except (OSError, RuntimeError, ValueError) as exc:  # (OSError: ConnectionError, TimeoutError)
            raise UsageError(f"--ray {address}: cannot join that Ray cluster ({exc}); start one with "
                             "`ray start --head` and give its address, HOST:6379") from None
        return Cluster(ray.get_runtime_context().gcs_address, owned=True, local=is_loopback(str(address)))
    sweep_stale_sessions()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # a private cluster reports nothing anywhere
    session = Path(tempfile.mkdtemp(prefix=f"{SESSION_PREFIX}{os.getpid()}-", dir=session_root()))
    _init(ray, session, address=LOCAL, num_cpus=cpus, _temp_dir=str(session), _node_ip_address="127.0.0.1", **quiet)
    return Cluster(ray.get_runtime_context().gcs_address, owned=True, local=True, session=session)


def _init(ray: Any, session: Path | None, **options: Any) -> None:
    """``ray.init(**options)``, keeping storyboard's signal handlers. If it fails or is interrupted (Ctrl-C),
    whatever it started is stopped (``ray.shutdown``: a half-started local cluster's processes, a half-made
    connection) and the ``session`` folder removed before the error goes on."""
    with _signals_kept():
        try:
            ray.init(**options)
        except BaseException:
            with shielded():
                try:
                    ray.shutdown()
                except Exception:  # noqa: BLE001 - the error that stopped ray.init is the one to report
                    pass
                if session is not None:
                    shutil.rmtree(session, ignore_errors=True)
            raise


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[IPv6]:PORT`` too) as (host, port); :class:`UsageError` naming what is wrong,
    before anything is tried: Ray would retry an impossible address for many minutes."""
    import ipaddress

    host, colon, port = address.strip().rpartition(":")
    if not address.strip():
        raise UsageError("--ray needs an address, HOST:PORT (as `ray start --head` printed, e.g. HOST:6379); "
                         "give --ray alone, with nothing after it, for a local cluster on this machine")
    if not colon or not host:
        raise UsageError(f"--ray {address}: expected HOST:PORT (e.g. 192.168.1.20:6379, as `ray start --head` "
                         "printed)")
    if not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UsageError(f"--ray {address}: the port must be a number from 1 to 65535, not '{port}'")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare)
        return bare, int(port)
    except ValueError:
        pass
    if len(bare) > 253 or not all(_LABEL.fullmatch(label) for label in bare.split(".")):
        shown = bare if len(bare) <= 60 else bare[:57] + "..."
        raise UsageError(f"--ray {address if len(address) <= 80 else shown + ':' + port}: '{shown}' is not a host "
                         "name or an IP address (a name is at most 253 characters: letters, digits, '-' and dots, "
                         "at most 63 between dots)")
    return bare, int(port)


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
GCS_CALL = "/ray.rpc.NodeInfoGcsService/GetClusterId"  # what every Ray GCS answers, with an empty request


def reachable(address: str, timeout_s: float = 10.0, call_timeout_s: float = 5.0) -> None:
    """Raise :class:`UsageError` unless a Ray cluster answers at ``address`` (``HOST:PORT``): the
    address must be well formed, something must listen there within ``timeout_s`` seconds and speak
    gRPC, as Ray's GCS does, and the GCS must answer one real call (its cluster id) within
    ``call_timeout_s``. Ray itself would wait minutes for an unreachable address, as long again for
    one where something else listens (a dashboard, Redis), and longer for one that stays silent.
    ``auto`` is left to Ray; the Ray Client (``ray://``) is refused: the farm streams its workers'
    progress, which the client does not carry."""
    if "://" in address:
        raise UsageError(f"--ray {address}: the Ray Client is not supported; run storyboard on a machine of the "
                         "cluster (`ray start --address=HEAD:6379` there) and give HEAD:6379")
    if address.strip() == "auto":
        return
    host, port = parse_address(address)
    if str(port) == RAY_CLIENT_PORT:
        raise UsageError(f"--ray {address}: {RAY_CLIENT_PORT} is the Ray Client's port, which the farm does not "
                         "use; give the cluster's GCS address, HOST:6379 (as `ray start --head` printed)")
    tls = os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true")  # (no plain HTTP/2 to test then)
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as conn:
            grpc = tls or speaks_http2(conn, timeout_s)
    except OSError as exc:
        raise UsageError(f"--ray {address}: no Ray cluster answers there ({exc.strerror or exc}); start one with "
                         "`ray start --head --port=6379` and give HOST:6379") from None
    if not grpc:
        raise UsageError(f"--ray {address}: something listens there, but not a Ray cluster (it does not answer "
                         "gRPC, as Ray's GCS does; for a cluster that uses TLS, set RAY_USE_TLS=1 and its "
                         "certificates as its machines do); give the address `ray start --head` printed, HOST:6379")
    if not tls and (why := gcs_silent(host, port, call_timeout_s)):
        raise UsageError(f"--ray {address}: something answers gRPC there, but not as a Ray cluster's GCS does "
                         f"({why}); give the address `ray start --head` printed, HOST:6379")


def gcs_silent(host: str, port: int, timeout_s: float) -> str | None:
    """Why the gRPC server at ``host:port`` is not a Ray GCS: it does not answer :data:`GCS_CALL` within
    ``timeout_s`` seconds, or does not know it (UNIMPLEMENTED); None when it answers, even with a refusal
    (a cluster that wants a token answers UNAUTHENTICATED: Ray's join brings the token). Uses grpcio."""
    import grpc

    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with grpc.insecure_channel(target, options=[("grpc.enable_retries", 0)]) as channel:
        call = channel.unary_unary(GCS_CALL, request_serializer=None, response_deserializer=None)
        try:
            call(b"", timeout=timeout_s)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
                return f"no answer to a Ray call in {timeout_s:g} s"
            if code == grpc.StatusCode.UNIMPLEMENTED:
                return "it does not know Ray's calls"
    return None


def bound_ray_waits(seconds: int = 30) -> None:
    """Bound how long Ray's own join waits on a cluster that stops answering (its defaults are a minute
    a request, retried): set, unless the user set them, before ray is imported."""
    for name in ("RAY_gcs_server_request_timeout_seconds", "RAY_gcs_rpc_server_connect_timeout_s",
                 "RAY_gcs_rpc_server_reconnect_timeout_s"):
        os.environ.setdefault(name, str(seconds))


RAY_CLIENT_PORT = "10001"  # where `ray start --head` serves the Ray Client (a gRPC server too)
HTTP2_GREETING = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])  # preface + empty SETTINGS


def speaks_http2(conn: socket.socket, timeout_s: float) -> bool:
    """Whether the peer on ``conn`` answers HTTP/2's opening (gRPC's transport) with its own within
    ``timeout_s`` seconds: a server's first frame is SETTINGS (type 4) on stream 0. False when it
    answers otherwise, hangs up or stays silent."""
    deadline = time.monotonic() + timeout_s
    try:
        conn.sendall(HTTP2_GREETING)
        header = b""
        while len(header) < 9:  # a frame header: length (3 bytes), type, flags, stream (4 bytes)
            conn.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = conn.recv(9 - len(header))
            if not chunk:
                return False
            header += chunk
    except (TimeoutError, ConnectionError):
        return False
    return header[3] == 4 and header[5:9] == bytes(4)


def shutdown(cluster: Cluster) -> None:
    """Leave the cluster: a local cluster this process started stops and its session folder goes;
    a cluster this process found running is left as it was. Ctrl-C waits until it is done."""
    if not cluster.owned:
        return
    import ray

    with shielded():
        ray.shutdown()
        if cluster.session is not None:
            shutil.rmtree(cluster.session, ignore_errors=True)


def session_root() -> Path:
    """Where local clusters keep their session folders: ``$RAY_TMPDIR``, else /tmp as Ray does (a short path:
    Ray's sockets live under it), else the system's temporary folder."""
    root = os.environ.get("RAY_TMPDIR") or ("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir())
    return Path(root)


def sweep_stale_sessions() -> list[Path]:
    """Remove the session folders of local clusters whose render no longer runs (killed); returns them."""
    removed = []
    for folder in session_root().glob(f"{SESSION_PREFIX}*"):
        match = _SESSION.match(folder.name)
        if match and folder.is_dir() and not process_alive(int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _loopback_only() -> None:
    """Make Ray use 127.0.0.1 for this machine's node: its servers listen there and nowhere else.

    Ray's switch for a cluster of one machine (on by default on macOS and Windows) is read from
    the environment when ray is imported; the node's processes inherit it.
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None and getattr(constants, "ENABLE_RAY_CLUSTER", False):
        constants.ENABLE_RAY_CLUSTER = False  # ray was imported before the switch was set


@contextmanager
def _signals_kept() -> Iterator[None]:
    """``ray.init`` installs its own SIGTERM handler (``sys.exit``); put storyboard's back, so that
    SIGTERM still stops a render like Ctrl-C (exit 130, finished segments kept)."""
    main = threading.current_thread() is threading.main_thread()
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}
    try:
        yield
    finally:
        for number, handler in saved.items():
            if handler is not None:
                signal.signal(number, handler)
