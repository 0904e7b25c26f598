"""The demo market goes on when the operator opens a session itself (as in the web UI's
operator page): the chain clock keeps moving, the demo opens the later intervals, and the
operator's session is cleared once its gate passes, with the members' orders matched."""

from __future__ import annotations

import pytest

from bright.demo import bring_up
from bright.demo_market import DemoMarket
from chain.anvil import free_port
from chain.domain import Role
from core.rules import Side
from core.settings import ChainSettings
from core.units import INTERVAL_S


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    settings = ChainSettings(state_dir=tmp_path_factory.mktemp("state"), chain_port=free_port())
    running = bring_up(settings, quiet=True)
    yield running
    running.stop()


def test_operator_session_on_the_demo_grid_is_cleared_and_time_goes_on(demo) -> None:
    market = DemoMarket(demo.platform, demo.members)
    market.fund()
    market.round()
    operator = next(m for m in demo.members if m.role is Role.MARKET_OPERATOR)
    buyer, seller = (m for m in demo.members if m.name in ("home-01", "home-02"))
    now = market._now()
    lead = market.operator.config.gate_lead_s
    # Two intervals ahead: exactly where the demo would open its sessions.
    start = (now + lead) // INTERVAL_S * INTERVAL_S + 2 * INTERVAL_S
    _, sid = demo.platform.market(operator.account).open_session(start, INTERVAL_S, start - lead)
    demo.platform.market(buyer.account).place_order(sid, Side.BID, 500, 150_000)
    demo.platform.market(seller.account).place_order(sid, Side.OFFER, 500, 100_000)
    cleared = [c for _ in range(4) for c in market.round()[0]]
    assert sid in [c.session_id for c in cleared]
    assert market._now() > start  # the clock moved past the operator's session
    info = demo.platform.market().session(sid)
    assert info.cleared
    matched = demo.platform.market().contract.events.OrderMatched.get_logs(
        from_block=0, argument_filters={"sessionId": sid}
    )
    assert sum(e.args.qtyWh for e in matched) == 500
    # the demo kept opening (and clearing) the intervals after it
    later = [c for c in cleared if c.delivery_start_s > start]
    assert later
