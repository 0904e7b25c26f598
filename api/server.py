"""Serving the API with uvicorn: in the foreground (``bright api serve``) or in a thread of
another process (``bright up``): ``handle = start_in_thread(settings); ...; handle.stop()``."""

from __future__ import annotations

import errno
import socket
import threading
import time
from dataclasses import dataclass
from types import FrameType

import uvicorn

from api.errors import ApiError
from api.service import ApiService
from api.settings import ApiSettings
from core.errors import PortInUseError


class ServerStartError(ApiError):
    """uvicorn did not start listening (port taken, bad settings)."""


class ApiPortInUseError(ServerStartError, PortInUseError):
    """The API's port is taken by another process."""

    def __init__(self, host: str, port: int) -> None:
        PortInUseError.__init__(
            self,
            "the API",
            host,
            port,
            "`bright up --api-port N`, `bright api serve --port N` or BRIGHT_API_PORT",
        )
        self.message, self.details = str(self), None


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`ApiPortInUseError` when ``host:port`` cannot be bound (port 0: any free
    port, never taken). Checked before uvicorn starts, whose own bind failure is a log line
    and a ``SystemExit``."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ApiPortInUseError(host, port) from exc
            raise


def uvicorn_config(
    settings: ApiSettings, log_level: str = "warning", service: ApiService | None = None
) -> uvicorn.Config:
    from api.main import create_app

    return uvicorn.Config(
        create_app(settings, service),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )


class ClosingServer(uvicorn.Server):
    """uvicorn's server that ends the API's live feeds when asked to exit (Ctrl-C in the
    foreground, :meth:`ServerHandle.stop` in a thread): an open feed would otherwise hold the
    shutdown until uvicorn cancels it, which it logs as an "Exception in ASGI application"."""

    def close_feeds(self) -> None:
        service = getattr(getattr(self.config.app, "state", None), "service", None)
        if isinstance(service, ApiService):
            service.closing.set()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.close_feeds()
        super().handle_exit(sig, frame)


@dataclass
class ServerHandle:
    """A uvicorn server running in a daemon thread."""

    server: ClosingServer
    thread: threading.Thread
    url: str

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the server to shut down (ending live feeds first) and wait for its thread."""
        self.server.close_feeds()
        self.server.should_exit = True
        self.thread.join(timeout_s)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self.thread.is_alive() and self.server.started


def start_in_thread(
    settings: ApiSettings,
    timeout_s: float = 20.0,
    log_level: str = "warning",
    service: ApiService | None = None,
) -> ServerHandle:
    """Start the API in a thread; returns once it accepts connections (``.url``), or raises
    :class:`ServerStartError` (:class:`ApiPortInUseError` when the port is taken).
    ``settings.port == 0`` picks a free port."""
    check_port_free(settings.host, settings.port)
    server = ClosingServer(uvicorn_config(settings, log_level, service))
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except BaseException as exc:  # SystemExit from a failed bind, too
            failure.append(exc)

    thread = threading.Thread(target=run, name="bright-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            why = repr(failure[0]) if failure else "it stopped or timed out"
            raise ServerStartError(
                f"the API did not start on {settings.host}:{settings.port}: {why}"
            )
        time.sleep(0.02)
    port = settings.port
    for srv in server.servers:
        for sock in srv.sockets:
            port = int(sock.getsockname()[1])
            break
    return ServerHandle(server, thread, f"http://{settings.host}:{port}")
