"""Serving the API with uvicorn: in the foreground (``bright api serve``) or in a thread of
another process (``bright up``): ``handle = start_in_thread(settings); ...; handle.stop()``."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import uvicorn

from api.errors import ApiError
from api.service import ApiService
from api.settings import ApiSettings


class ServerStartError(ApiError):
    """uvicorn did not start listening (port taken, bad settings)."""


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


@dataclass
class ServerHandle:
    """A uvicorn server running in a daemon thread."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the server to shut down (closing live feeds) and wait for its thread."""
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
    :class:`ServerStartError`. ``settings.port == 0`` picks a free port."""
    server = uvicorn.Server(uvicorn_config(settings, log_level, service))
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
