"""A single-node Apache Kafka broker (KRaft mode) from Maven Central's jars.

``KafkaBroker(state_dir)`` keeps what a run writes under ``state_dir`` (default ``kafka/`` in
the state folder, ``BRIGHT_STATE_DIR``): ``server.properties``, ``data/`` (the log, formatted
once with ``kafka.tools.StorageTool format --standalone``), ``broker.log`` and ``broker.pid``.
The jars are an install cache, not run state: :data:`KAFKA_LIBS_DIR` (``.bright/kafka/libs`` in
the project, fetched once by ``make setup`` with ``mvn dependency:copy-dependencies`` on
``streams/kafka/pom.xml``), shared by every state folder. ``start``
returns when the broker answers on its port; ``stop`` (also from another process, through the
pid file) shuts it down.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from types import TracebackType

from chain.anvil import free_port, port_in_use
from core.errors import ToolchainError
from core.paths import KAFKA_LIBS_DIR
from core.settings import state_dir as platform_state_dir

POM = Path(__file__).resolve().parent / "pom.xml"


def default_kafka_dir() -> Path:
    """``kafka/`` in the state folder (``BRIGHT_STATE_DIR``), read when called."""
    return platform_state_dir() / "kafka"


class KafkaBrokerError(ToolchainError):
    """The Kafka broker could not be fetched, formatted, started or stopped."""


def fetch_jars(libs_dir: Path) -> Path:
    """Put Kafka's jars into ``libs_dir`` (Maven Central, once)."""
    if list(libs_dir.glob("kafka_2.13-*.jar")):
        return libs_dir
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaBrokerError("Maven (mvn) is not installed; it fetches Kafka's jars")
    libs_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs_dir}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if proc.returncode != 0 or not list(libs_dir.glob("kafka_2.13-*.jar")):
        raise KafkaBrokerError(
            f"fetching Kafka's jars failed: {(proc.stdout + proc.stderr)[-800:]}"
        )
    return libs_dir


class KafkaBroker:
    """One KRaft broker+controller on loopback."""

    def __init__(
        self,
        state_dir: Path | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
        libs_dir: Path | None = None,
        heap_mb: int = 512,
    ) -> None:
        self.state_dir = Path(state_dir) if state_dir is not None else default_kafka_dir()
        self.libs_dir = libs_dir or KAFKA_LIBS_DIR
        self.host = host
        self.heap_mb = heap_mb
        saved = self.state_dir / "port"
        if port is None and saved.exists():
            port = int(saved.read_text())
        self.port = port if port is not None else free_port(host)
        self.controller_port = (
            self.port + 1 if not port_in_use(host, self.port + 1) else free_port(host)
        )
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The broker URL as faust writes it."""
        return f"kafka://{self.bootstrap}"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "broker.pid"

    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise KafkaBrokerError("Java is not installed; the Kafka broker runs on Java 17")
        return java

    def _write_properties(self) -> Path:
        props = self.state_dir / "server.properties"
        cport_file = self.state_dir / "controller_port"
        if cport_file.exists():
            self.controller_port = int(cport_file.read_text())
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{self.host}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.state_dir / "data"),
            "num.partitions": "4",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
        }
        props.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        (self.state_dir / "port").write_text(str(self.port))
        cport_file.write_text(str(self.controller_port))
        return props

    def _classpath(self) -> str:
        return str(self.libs_dir / "*")

    def format(self) -> None:
        """Format the storage once (a fresh cluster id)."""
        props = self._write_properties()
        if (self.state_dir / "data" / "meta.properties").exists():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        proc = subprocess.run(
            [
                self._java(),
                "-cp",
                self._classpath(),
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(props),
                "--standalone",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if proc.returncode != 0:
            raise KafkaBrokerError(
                f"formatting Kafka's storage failed: {(proc.stdout + proc.stderr)[-800:]}"
            )

    @property
    def running(self) -> bool:
        pid = self._pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True

    def _pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None

    def start(self, timeout_s: float = 90) -> KafkaBroker:
        """Fetch, format (once) and start the broker; returns when it answers."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        fetch_jars(self.libs_dir)
        self.format()
        if self.running:
            return self
        if port_in_use(self.host, self.port):
            raise KafkaBrokerError(f"port {self.port} is in use; stop what runs there")
        log = (self.state_dir / "broker.log").open("ab")
        env = {**os.environ, "KAFKA_HEAP_OPTS": f"-Xmx{self.heap_mb}m"}
        self._proc = subprocess.Popen(
            [
                self._java(),
                f"-Xmx{self.heap_mb}m",
                f"-Xms{min(self.heap_mb, 256)}m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-cp",
                self._classpath(),
                "kafka.Kafka",
                str(self.state_dir / "server.properties"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
        log.close()
        self.pid_file.write_text(str(self._proc.pid))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise KafkaBrokerError(
                    f"the Kafka broker exited with {self._proc.returncode}; see "
                    f"{self.state_dir / 'broker.log'}"
                )
            if self._answers():
                return self
            time.sleep(0.2)
        self.stop()
        raise KafkaBrokerError(
            f"the Kafka broker did not answer on {self.bootstrap} in {timeout_s} s"
        )

    def _answers(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                pass
        except OSError:
            return False
        import asyncio

        from aiokafka.admin import AIOKafkaAdminClient

        async def probe() -> bool:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
            try:
                await admin.start()
                await admin.list_topics()
                return True
            except Exception:
                return False
            finally:
                await admin.close()

        return asyncio.run(probe())

    def stop(self, timeout_s: float = 30) -> None:
        """Stop the broker (SIGTERM: a clean shutdown; SIGKILL after ``timeout_s``)."""
        pid = self._pid()
        if pid is None:
            return
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            self.pid_file.unlink(missing_ok=True)
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                break
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
        if self._proc is not None:
            self._proc.wait()
            self._proc = None
        self.pid_file.unlink(missing_ok=True)

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
