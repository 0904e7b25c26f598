"""A local Mosquitto broker for the embedded setup and the tests.

:class:`MosquittoBroker` writes a generated ``mosquitto.conf`` under its state folder
(default ``.bright/mosquitto``: ``data/`` for persistence, ``log/`` for the log, ``tls/`` for
generated certificates), starts ``mosquitto`` on a loopback port, waits until it accepts
connections, and stops it cleanly. Run as root (as CI does) it stays root (``user root``)
instead of dropping to the ``mosquitto`` user, which could not write the state folder.

TLS (IHG-10): :func:`generate_tls` makes a local CA, a server certificate for
``localhost``/``127.0.0.1`` and client certificates; the TLS listener authenticates clients by
certificate (the certificate's CN becomes the MQTT user name) or by password.

Payloads over ``message_size_limit`` bytes (default
:data:`gateway_bridge.domain.MAX_PAYLOAD_BYTES`, the bridge's own limit) are not accepted by
the broker (Mosquitto's ``message_size_limit``): it completes the QoS flow but forwards
nothing, so an oversized message never reaches a subscriber's memory.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.settings import state_dir as platform_state_dir
from gateway_bridge.domain import MAX_PAYLOAD_BYTES
from gateway_bridge.errors import BrokerError, BrokerNotInstalledError, BrokerStartError


def default_broker_dir() -> Path:
    """``mosquitto/`` in the state folder (``BRIGHT_STATE_DIR``), read when called."""
    return platform_state_dir() / "mosquitto"


HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def accepts_connections(host: str, port: int, timeout_s: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


# -- TLS material ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a local CA, the broker's certificate and one client certificate."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.folder / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.folder / "server.key"

    def client_cert(self, name: str = "bright-gateway-bridge") -> Path:
        return self.folder / f"client-{name}.crt"

    def client_key(self, name: str = "bright-gateway-bridge") -> Path:
        return self.folder / f"client-{name}.key"


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(data)
    path.chmod(0o600)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise BrokerError(f"{path} is not an EC private key")
    return key


def _issue(
    subject_cn: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    days: int,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        ).add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def generate_tls(
    folder: Path, clients: tuple[str, ...] = ("bright-gateway-bridge",), days: int = 825
) -> TlsFiles:
    """Create (or reuse) a local CA, a server certificate and client certificates in ``folder``.

    Keys are EC P-256, written with mode 0600. Existing files are kept, so running it again
    only adds missing client certificates.
    """
    files = TlsFiles(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not (files.ca_cert.exists() and files.ca_key.exists()):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _issue("BRIGHT local MQTT CA", ca_key, None, ca_key, days, ca=True)
        _write_key(files.ca_key, ca_key)
        files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        for stale in folder.glob("*.crt"):
            if stale != files.ca_cert:
                stale.unlink()  # signed by an old CA
    ca_key = _load_key(files.ca_key)
    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    wanted = [("localhost", files.server_cert, files.server_key, True)]
    wanted += [(c, files.client_cert(c), files.client_key(c), False) for c in clients]
    for cn, cert_path, key_path, server in wanted:
        if cert_path.exists() and key_path.exists():
            continue
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(cn, key, ca_cert, ca_key, days, server=server)
        _write_key(key_path, key)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


def mosquitto_password_hash(password: str, iterations: int = 101) -> str:
    """A Mosquitto 2 password-file hash (``$7$``: PBKDF2-SHA512, as ``mosquitto_passwd``)."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; reaps it if it is an exited child of this process."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


# -- the broker --------------------------------------------------------------------------------
class MosquittoBroker:
    """A Mosquitto process on loopback, configured from arguments.

    Parameters
    ----------
    state_dir: folder for ``mosquitto.conf``, ``broker.json``, ``data/``, ``log/``, ``tls/``
        (default ``mosquitto/`` in the state folder).
    port: plain MQTT listener; ``plain_auth`` ``"anonymous"`` or ``"password"``.
    tls_port: optional TLS listener; ``tls_auth`` ``"certificate"`` (client certificate
        signed by the generated CA required, its CN is the user name) or ``"password"``.
    users: user name -> password, for password auth (hashed into ``passwords``).
    message_size_limit: largest publish payload it forwards, bytes (0: Mosquitto's 256 MB).
    """

    def __init__(
        self,
        state_dir: Path | None = None,
        *,
        port: int = 1883,
        tls_port: int | None = None,
        plain_auth: Literal["anonymous", "password"] = "anonymous",
        tls_auth: Literal["certificate", "password"] = "certificate",
        users: dict[str, str] | None = None,
        tls_clients: tuple[str, ...] = ("bright-gateway-bridge",),
        persistence: bool = True,
        executable: str = "mosquitto",
        host: str = HOST,
        message_size_limit: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        if message_size_limit < 0:
            raise ValueError(f"message_size_limit must be >= 0, got {message_size_limit}")
        self.message_size_limit = message_size_limit
        self.state_dir = Path(state_dir) if state_dir is not None else default_broker_dir()
        self.host, self.port, self.tls_port = host, port, tls_port
        self.plain_auth, self.tls_auth = plain_auth, tls_auth
        self.users = dict(users or {})
        self.tls_clients = tls_clients
        self.persistence = persistence
        self.executable = executable
        self.tls: TlsFiles | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def config_file(self) -> Path:
        return self.state_dir / "mosquitto.conf"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "log" / "mosquitto.log"

    @property
    def info_file(self) -> Path:
        return self.state_dir / "broker.json"

    def render_config(self) -> str:
        """The ``mosquitto.conf`` text (writes the password file and TLS files it needs)."""
        data, logs = self.state_dir / "data", self.state_dir / "log"
        lines = [
            "# Generated by gateway_bridge.broker; rewritten on every start.",
            "per_listener_settings true",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {data}/",
            "autosave_interval 60",
            f"log_dest file {logs / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages true",
            "max_queued_messages 100000",
            f"message_size_limit {self.message_size_limit}",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to 'mosquitto', who cannot write here
        password_file = self.state_dir / "passwords"
        if self.users:
            password_file.write_text(
                "".join(f"{u}:{mosquitto_password_hash(p)}\n" for u, p in self.users.items())
            )
            password_file.chmod(0o600)
        lines += ["", f"listener {self.port} {self.host}"]
        if self.plain_auth == "password":
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines += ["allow_anonymous true"]
        if self.tls_port is not None:
            self.tls = generate_tls(self.state_dir / "tls", self.tls_clients)
            lines += [
                "",
                f"listener {self.tls_port} {self.host}",
                f"cafile {self.tls.ca_cert}",
                f"certfile {self.tls.server_cert}",
                f"keyfile {self.tls.server_key}",
                "tls_version tlsv1.2",
                "allow_anonymous false",
            ]
            if self.tls_auth == "certificate":
                lines += ["require_certificate true", "use_identity_as_username true"]
            else:
                lines += ["require_certificate false", f"password_file {password_file}"]
        return "\n".join(lines) + "\n"

    def start(self, timeout_s: float = 10.0, *, detach: bool = False) -> MosquittoBroker:
        """Start Mosquitto and wait until every listener accepts connections.

        ``detach``: let it outlive this process (``bright mosquitto up``); :meth:`stop` in
        another process finds it through ``broker.json``.
        """
        exe = shutil.which(self.executable) or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if exe is None:
            raise BrokerNotInstalledError(self.executable)
        running = self.running_pid()
        if running is not None:
            raise BrokerError(f"a broker from {self.state_dir} is already running (pid {running})")
        for ports in (self.port, self.tls_port):
            if ports is not None and accepts_connections(self.host, ports):
                raise BrokerStartError(ports, "the port is already in use")
        for sub in ("data", "log"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.render_config())
        out = (self.state_dir / "log" / "stdout.log").open("ab")
        try:
            self._proc = subprocess.Popen(
                [exe, "-c", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # its own session also when attached: a Ctrl-C in the terminal reaches only
                # the owner, which stops the broker after the services that use it
                start_new_session=True,
            )
        finally:
            out.close()
        deadline = time.monotonic() + timeout_s
        for port in (p for p in (self.port, self.tls_port) if p is not None):
            while not accepts_connections(self.host, port):
                if self._proc.poll() is not None:
                    raise BrokerStartError(
                        port, f"exited with {self._proc.returncode}", self._tail()
                    )
                if time.monotonic() > deadline:
                    self.stop()
                    raise BrokerStartError(
                        port, f"not accepting after {timeout_s:g} s", self._tail()
                    )
                time.sleep(0.02)
        self.info_file.write_text(json.dumps(self.info(), indent=2))
        return self

    def info(self) -> dict:
        pid = self._proc.pid if self._proc else self.running_pid()
        return {
            "pid": pid,
            "host": self.host,
            "port": self.port,
            "tls_port": self.tls_port,
            "config": str(self.config_file),
            "log": str(self.log_file),
            "ca_file": str(self.tls.ca_cert) if self.tls else None,
        }

    def _tail(self, lines: int = 20) -> str:
        text = ""
        for path in (self.log_file, self.state_dir / "log" / "stdout.log"):
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text.strip()

    def running_pid(self) -> int | None:
        """The pid of a live broker started from this state folder, if any."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        try:
            pid = int(json.loads(self.info_file.read_text())["pid"])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if b"mosquitto" in cmdline and str(self.config_file).encode() in cmdline:
            return pid
        return None

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop the broker (SIGTERM, then SIGKILL); False if none was running."""
        if self._proc is not None:
            proc, self._proc = self._proc, None
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout_s)
            self.info_file.unlink(missing_ok=True)
            return True
        pid = self.running_pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.info_file.unlink(missing_ok=True)
        return True

    def status(self) -> dict:
        pid = self.running_pid()
        info: dict = {"running": pid is not None, "pid": pid}
        if self.info_file.exists():
            try:
                saved = json.loads(self.info_file.read_text())
            except ValueError:
                saved = {}
            info.update({k: v for k, v in saved.items() if k != "pid"})
        port = info.get("port", self.port)
        info["accepting"] = pid is not None and accepts_connections(self.host, int(port))
        return info

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
