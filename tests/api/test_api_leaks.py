"""No route leaks a member's address to a caller who may not see it.

The test walks every route of the app (enumerated from ``app.routes``, so a new route is walked
too), as each kind of caller, on read models of the demo chain with the coordination scenario
(a settled request with a replaced member, an open request), meter data, the homes' thermal
twins and trained models (one that failed its gate), their control comparisons and statuses
and a home-gateway bridge. Path parameters
are filled with every id and address there is (every order of every member, every session,
request and participant, and ones that do not exist), and so are the query parameters that
take an address. Every answer body (and the live feed's frames) is searched, at any depth, for
the addresses, meter ids and display names (member directory) of the members the caller may
not see, and no 403 or 404 may name any member other than the caller, by address or by name.

Who may see whose address here is written out below, independently of :mod:`api.access`:

* everyone: its own; the organisations' accounts (aggregator, DSO, oracle, market operator).
  They are public by design: a request names its DSO and its coordinator, a member delegates
  to an aggregator by its address, and these accounts act for the platform, not for a home;
* a prosumer that delegated: also its aggregator;
* the aggregator: also the members that delegated to it and those that opted in to a request
  it coordinates or that is open (it may propose a coalition of them);
* the DSO and the market operator: everyone (they see the participant registry's details).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import select

from api.server import start_in_thread
from api.service import ApiService
from tests.api.api_helpers import bearer, index_into, login, login_message, settings_for, sign

CALLERS = {
    "home-01": "prosumer",
    "home-02": "prosumer that delegated to the aggregator",
    "home-07": "prosumer replaced in a coalition by home-08",
    "aggregator": "delegated aggregator and coordinator",
    "dso": "DSO",
    "market-operator": "market operator",
    "oracle": "oracle",
    "admin": "account without a role",
}
ORGANISATIONS = ("aggregator", "dso", "oracle", "market-operator")
NOBODY = "0x" + "5a" * 20
ADDRESS_QUERIES = ("participant", "dso")
"""Query parameters that take a member's address."""


class FakeGateway:
    """A home-gateway bridge with one plug per registered meter (the device routes exist only
    beside one)."""

    def __init__(self, meters: set[str]) -> None:
        self.meters = meters
        self.prefs: dict[str, dict[str, Any]] = {m: {"mode": "comfort"} for m in meters}

    def devices_of(self, meter_id: str) -> list[dict[str, Any]] | None:
        if meter_id not in self.meters:
            return None
        return [{"id": "plug", "adapter": "zigbee2mqtt", "online": True, "meter": meter_id}]

    def preferences_of(self, meter_id: str) -> dict[str, Any] | None:
        return self.prefs.get(meter_id)

    def set_preferences_of(self, meter_id: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        self.prefs[meter_id] = values
        return []


class World:
    """What the walk fills parameters with, read from the read models."""

    def __init__(self, url: str) -> None:
        from streams.db import open_database
        from streams.models import FlexOptIn, FlexRequest, MarketOrder, MarketSession, Participant

        engine = open_database(url)
        try:
            with engine.connect() as db:
                self.orders = [
                    tuple(r)
                    for r in db.execute(select(MarketOrder.session_id, MarketOrder.order_id))
                ]
                self.sessions = sorted(set(db.scalars(select(MarketSession.session_id))))
                self.requests = sorted(set(db.scalars(select(FlexRequest.request_id))))
                self.accounts = sorted(set(db.scalars(select(Participant.account))))
                self.opted_in = set(db.scalars(select(FlexOptIn.member)))
        finally:
            engine.dispose()
        assert len(self.orders) > 30 and self.sessions and len(self.requests) >= 2
        assert len(self.opted_in) >= 5


@pytest.fixture(scope="module")
def world(api_demo, scenario, tmp_path_factory) -> Iterator[tuple[str, World]]:
    del scenario  # on the chain before the read models are projected
    url = f"sqlite:///{tmp_path_factory.mktemp('leaks') / 'read_models.sqlite'}"
    index_into(api_demo, url)
    put_twins(api_demo, url)
    put_control(api_demo, url)
    yield url, World(url)


def put_twins(demo: Any, url: str) -> None:
    """A thermal twin (a day at 15 minutes) and a trained model of every home but home-03
    (which has neither); home-02's model failed its validation gate (409)."""
    from analytics.thermal.store import put_model, put_twin
    from streams.db import open_database
    from tests.analytics.thermal.test_model_store import forecast, gate, meta
    from tests.analytics.thermal.test_store import record

    engine = open_database(url)
    try:
        for m in demo.members:
            if m.name.startswith("home-") and m.name != "home-03":
                put_twin(engine, demo.chain_id, m.address, record(n=96, home_id=m.name))
                failed = m.name == "home-02"
                put_model(engine, demo.chain_id, m.address, home_id=m.name,
                          model=b"\x80" * 100, gate=gate(not failed, "failed" * failed),
                          meta=meta(), forecast=forecast(), trained_s=1_700_000_000)
    finally:
        engine.dispose()


def put_control(demo: Any, url: str) -> None:
    """A control comparison and status of every home but home-03 (which has neither)."""
    from analytics.control.store import put_comparison, put_status
    from streams.db import open_database
    from tests.analytics.control.test_store import report, series, status

    engine = open_database(url)
    try:
        for m in demo.members:
            if m.name.startswith("home-") and m.name != "home-03":
                put_comparison(engine, demo.chain_id, m.address, report(), series())
                put_status(engine, demo.chain_id, m.address, status())
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def served(world, api_demo) -> Iterator[Any]:
    url, _ = world
    settings = settings_for(
        url,
        api_demo.chain_id,
        api_demo.market,
        port=0,
        stream_poll_s=0.1,
        stream_heartbeat_s=0.3,
    )
    service = ApiService.open(settings)
    service.gateway = FakeGateway({m.meter_id for m in api_demo.members if m.meter_id})
    handle = start_in_thread(settings, service=service)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def callers(tokens, client, api_demo) -> dict[str, tuple[str, Any]]:
    """(token, account) by caller name."""
    from chain.platform import dev_accounts
    from core.settings import DEV_MNEMONIC

    out = {}
    for name in CALLERS:
        account = dev_accounts(DEV_MNEMONIC, 1)[0] if name == "admin" else api_demo.account(name)
        token = tokens.get(name) or login(client, account)
        out[name] = (token, account)
    return out


def api_routes(app: Any) -> list[APIRoute]:
    """Every API route of ``app``, those of included routers too."""
    found = [rc.original_route for rc in iter_route_contexts(app.routes)]
    routes = [r for r in found if isinstance(r, APIRoute)]
    assert len(routes) >= 25
    return routes


def query_names(dependant: Any) -> list[str]:
    """The query parameters of a route, its dependencies' too."""
    names = [q.alias for q in dependant.query_params]
    for sub in dependant.dependencies:
        names += [n for n in query_names(sub) if n not in names]
    return names


def may_see(caller: str, demo: Any, world: World) -> set[str] | None:
    """The member addresses ``caller`` may see (None: all of them)."""
    a = {m.name: m.address for m in demo.members}
    if caller in ("dso", "market-operator"):
        return None
    seen = {a[n] for n in ORGANISATIONS}
    if caller == "admin":
        return seen
    seen.add(a[caller])
    if caller == "home-02":
        seen.add(a["aggregator"])
    if caller == "aggregator":
        seen |= {a["home-02"]} | world.opted_in  # it coordinates every proposed request here
    return seen


def _fill(path: str, world: World) -> list[str]:
    """``path`` with its parameters filled every way the walk tries."""
    params = set(re.findall(r"{(\w+)}", path))
    if params == {"session_id", "order_id"}:
        pairs = [*world.orders, (1, 99_999), (999, 0)]
        return [path.format(session_id=s, order_id=o) for s, o in pairs]
    if params == {"session_id"}:
        return [path.format(session_id=s) for s in [*world.sessions, 999]]
    if params == {"request_id"}:
        return [path.format(request_id=r) for r in [*world.requests, 987_654_321]]
    if params == {"address"}:
        return [path.format(address=x) for x in [*world.accounts, NOBODY]]
    assert not params, f"the walk does not know how to fill {path}"
    return [path]


def _leaks(text: str, hidden: dict[str, str]) -> list[str]:
    """What of ``hidden`` (lower-case needles) the raw body shows anywhere, in any case: a
    search of the text finds it at any depth, in keys and in values."""
    low = text.lower()
    return sorted(name for needle, name in hidden.items() if needle in low)


def _stream(handle: Any, token: str, timeout_s: float = 30.0) -> tuple[int, str]:
    """Everything the live feed sends from the first event until it goes quiet."""
    lines: list[str] = []
    with httpx.stream(
        "GET",
        f"{handle.url}/events/stream",
        params={"after": "0:0"},
        headers=bearer(token),
        timeout=timeout_s,
    ) as r:
        if r.status_code != 200:
            r.read()
            return r.status_code, r.text
        deadline = time.monotonic() + timeout_s
        for line in r.iter_lines():
            lines.append(line)
            if line == ": keep-alive" or time.monotonic() > deadline:
                break
    assert lines[-1] == ": keep-alive", "the feed did not catch up"
    return 200, "\n".join(lines)


@pytest.mark.parametrize("caller", list(CALLERS))
def test_no_route_shows_an_address_the_caller_may_not_see(caller, served, world, callers, api_demo):
    _, w = world
    token, account = callers[caller]
    me = account.address
    visible = may_see(caller, api_demo, w)
    members = {m.address: m for m in api_demo.members}
    hidden = {}  # lower-case needle -> what it is
    for address in w.accounts:
        if visible is not None and address not in visible:
            hidden[address.lower()] = f"address of {members[address].name}"
            if members[address].meter_id:
                hidden[json.dumps(members[address].meter_id).lower()] = (
                    f"meter of {members[address].name}"
                )
            # its display name, the same way (quoted: a whole JSON string)
            hidden[json.dumps(members[address].display_name).lower()] = (
                f"display name of {members[address].name}"
            )
    others = {a.lower(): members[a].name for a in w.accounts if a != me}
    others |= {
        json.dumps(members[a].display_name).lower(): f"name of {members[a].name}"
        for a in w.accounts
        if a != me
    }
    if caller in ("home-01", "home-02", "home-07", "oracle", "admin"):
        assert len(hidden) >= 3 * 15  # the walk looks for something

    app_routes = api_routes(served.server.config.app)
    walked: dict[tuple[str, str], int] = {}
    problems: dict[str, list[str]] = {}  # what, on which route -> examples
    statuses: dict[int, int] = {}

    def check(route: str, label: str, status: int, text: str) -> None:
        statuses[status] = statuses.get(status, 0) + 1
        found = []
        if status >= 500:
            found.append(f"{status}")
        if leaked := _leaks(text, hidden):
            found.append(f"{status} shows {len(leaked)} hidden")
        if status in (403, 404) and (named := _leaks(text, others)):
            found.append(f"{status} names {len(named)} other members")
        for what in found:
            problems.setdefault(f"{route}: {what}", []).append(f"{label}: {text[:240]}")

    with httpx.Client(base_url=served.url, headers=bearer(token), timeout=30) as http:
        for route in app_routes:
            for method in sorted(route.methods):
                key = (method, route.path)
                if route.path == "/events/stream":
                    status, text = _stream(served, token)
                    check(route.path, f"GET {route.path}", status, text)
                    walked[key] = 1
                    continue
                if route.path == "/auth/login":
                    # A login message naming each member, signed by the caller: refused, and
                    # the refusal names no one.
                    for address in [*w.accounts, NOBODY]:
                        text = login_message(http, account, address=address)
                        r = http.post(
                            route.path, json={"message": text, "signature": sign(account, text)}
                        )
                        check(route.path, f"as {address}", r.status_code, r.text)
                        walked[key] = walked.get(key, 0) + 1
                    continue
                queries = query_names(route.dependant)
                for path in _fill(route.path, w):
                    variants: list[dict[str, Any]] = [{}]
                    for q in queries:
                        if q in ADDRESS_QUERIES:
                            variants += [{q: x} for x in [*w.accounts, NOBODY]]
                    if "limit" in queries:
                        variants = [{"limit": 500, **v} for v in variants]
                    for params in variants:
                        body = {"mode": "economy"} if method == "PUT" else None
                        r = http.request(method, path, params=params, json=body)
                        label = f"{method} {path} {params or ''}"
                        check(f"{method} {route.path}", label, r.status_code, r.text)
                        walked[key] = walked.get(key, 0) + 1
                        if path == "/events" and r.status_code == 200:
                            # Page through every event of the chain.
                            page = r.json()["data"]
                            while page:
                                r = http.get(path, params={"limit": 500, "after": page[-1]["id"]})
                                label = f"after {page[-1]['id']}"
                                check("GET /events", label, r.status_code, r.text)
                                page = r.json()["data"] if r.status_code == 200 else []
    every = {(m, r.path) for r in app_routes for m in r.methods}
    assert set(walked) == every, every - set(walked)
    assert any(p == "/devices" for _, p in walked)  # the gateway's routes are walked too
    assert sum(walked.values()) > 300
    assert not problems, f"as {caller} ({CALLERS[caller]}):\n" + "\n".join(
        f"{what} ({len(examples)}x), e.g. {examples[0]}" for what, examples in problems.items()
    )
    if caller != "admin":
        assert statuses.get(200, 0) > 50, statuses  # the walk saw data, not only refusals


def test_the_walk_finds_a_leak(world, api_demo):
    """The search itself: an address anywhere in a body is found, however deep or cased."""
    home3 = api_demo.member("home-03")
    hidden = {home3.address.lower(): "home-03", json.dumps(home3.meter_id).lower(): "meter"}
    deep = json.dumps({"data": [{"args": {"list": ["0x" + home3.address[2:].upper()]}}]})
    assert _leaks(deep, hidden) == ["home-03"]
    assert _leaks(json.dumps({home3.address: 1}), hidden) == ["home-03"]  # a key, too
    assert _leaks(json.dumps({"meter_id": home3.meter_id}), hidden) == ["meter"]
    assert _leaks(json.dumps({"meter_id": home3.meter_id + "0"}), hidden) == []
    assert _leaks(json.dumps({"a": api_demo.member("home-04").address}), hidden) == []
