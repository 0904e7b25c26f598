"""What the routes share: the read-model database, the login nonces, the token service, and
which chain and market this API serves (resolved once the read models or the node know)."""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, distinct, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from api.errors import UnavailableError
from api.security import Expected, NonceStore, TokenService
from api.settings import ApiSettings
from streams.models import IndexCheckpoint, MarketSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scope:
    """The chain (and FlexMarket, when known) whose read models this API serves."""

    chain_id: int
    market: str | None


class GatewayView(Protocol):
    """What the API needs of a home-gateway bridge running in the same process (``bright
    up``): device status and comfort preferences of the household behind a meter."""

    def devices_of(self, meter_id: str) -> list[dict[str, Any]] | None:
        """Status of the household's devices; None if no household has that meter."""

    def preferences_of(self, meter_id: str) -> dict[str, Any] | None:
        """The household's comfort preferences; None if no household has that meter."""

    def set_preferences_of(self, meter_id: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        """Replace the household's preferences (validated: ValueError says what is wrong);
        returns the device commands the comfort rules issued."""


class ApiService:
    """Shared state of one API process."""

    gateway: GatewayView | None = None
    """The home-gateway bridge of this process, if it runs one (device status, preferences)."""

    def __init__(self, settings: ApiSettings, engine: Engine) -> None:
        from streams.db import session_factory

        self.settings = settings
        self.engine = engine
        self.sessions: sessionmaker[Session] = session_factory(engine)
        self.nonces = NonceStore(settings.nonce_ttl_s, settings.max_nonces)
        self.tokens = TokenService(settings.jwt_secret.get_secret_value(), settings.jwt_ttl_s)
        self._scope: Scope | None = None
        self._lock = threading.Lock()
        self.closing = threading.Event()
        """Set when the server shuts down: live feeds end at their next look, so the shutdown
        does not have to cancel them (uvicorn logs a cancelled response as a traceback)."""

    @classmethod
    def open(cls, settings: ApiSettings) -> ApiService:
        """Connect to the read models (migrating an empty database to the current schema)."""
        from streams.db import open_database

        return cls(settings, open_database(settings.database_url))

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read-only session; database errors become 503."""
        try:
            with self.sessions() as s:
                yield s
        except SQLAlchemyError as exc:
            log.warning("read-model query failed: %s", exc)
            raise UnavailableError(
                "the read-model database did not answer", details=type(exc).__name__
            ) from exc

    # ---- scope ------------------------------------------------------------------------------

    @property
    def cached_scope(self) -> Scope | None:
        """The scope once it is final (no database access)."""
        return self._scope

    def scope(self) -> Scope:
        """The served chain and market; raises 503 while neither settings, read models nor the
        node can tell the chain id."""
        if self._scope is not None:
            return self._scope
        with self._lock:
            if self._scope is None:
                found = self._resolve()
                if found.market is None:
                    return found  # not final: a market may appear in the read models later
                self._scope = found
            return self._scope

    def _resolve(self) -> Scope:
        s = self.settings
        chain_id = s.chain_id
        with self.session() as db:
            if chain_id is None:
                chains = list(db.scalars(select(IndexCheckpoint.chain_id)))
                if len(chains) == 1:
                    chain_id = int(chains[0])
            if chain_id is None:
                chain_id = self._chain_id_from_node()
            market = s.market_address or self._market_from_deployments(chain_id)
            if market is None:
                markets = list(
                    db.scalars(
                        select(distinct(MarketSession.market)).where(
                            MarketSession.chain_id == chain_id
                        )
                    )
                )
                market = markets[0] if len(markets) == 1 else None
        return Scope(chain_id, market)

    def _chain_id_from_node(self) -> int:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
        req = urllib.request.Request(
            self.settings.rpc_url,
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=2) as resp:
                return int(json.loads(resp.read())["result"], 16)
        except Exception as exc:
            raise UnavailableError(
                "the chain id is not known yet: the read models index no chain and the node at "
                f"{self.settings.rpc_url} does not answer (set BRIGHT_API_CHAIN_ID)"
            ) from exc

    @staticmethod
    def _market_from_deployments(chain_id: int) -> str | None:
        try:
            from chain.deploy import DeploymentsFile
            from core.settings import ChainSettings

            dep = DeploymentsFile(ChainSettings().deployments_file).get(chain_id)
            return None if dep is None else dep.address("FlexMarket")
        except Exception:  # no deployments file, another chain, no FlexMarket
            return None

    def expected(self) -> Expected:
        s = self.settings
        return Expected(s.siwe_domain, s.siwe_uri, self.scope().chain_id, s.clock_skew_s)
