"""Request -> coalition -> delivery with a failing member -> replacement -> settlement.

The engines only (no chain): the coalition's targets feed the settlement, the settlement's
non-delivery flag drives the replacement, and the final settlement pays the replacement for
its intervals, penalises the failing member for its own, and conserves the escrow.
"""

from __future__ import annotations

import numpy as np

from coalitions.domain import MemberOffer, kw_to_interval_wh
from coalitions.engine import FormationConfig, form_coalition, replace_member
from coalitions.sharing import FlexGame, share_reward
from core.rules import FlexRequest
from settlement.baselines import BaselineMethod, ForecastParams
from settlement.domain import MeterSeries
from settlement.engine import compute_deliveries, detect_non_delivery, settle

W = 1_767_200_400
Q = 900
N = 8  # 2-hour request


def test_failing_member_is_replaced_and_everyone_is_settled_on_their_intervals() -> None:
    qty = (600,) * N
    offers = [
        MemberOffer("anna", (kw_to_interval_wh(1.6),) * N, 400, reliability=0.97),
        MemberOffer("ben", (300,) * N, 300, reliability=0.95),
        MemberOffer("cleo", (250,) * N, 250, reliability=0.9),
        MemberOffer("dan", (200,) * N, 200, reliability=0.6),
        MemberOffer("eve", (150,) * N, 150, reliability=0.5),
    ]
    creq = FlexRequest(9, W, qty, 1000)
    config = FormationConfig(time_limit_s=1.0, candidate_cover=0, reserve_bp=5000)
    coalition = form_coalition(creq, offers, config=config)
    assert coalition.all_within_tolerance
    # The two most reliable cover the request; the reserve (most reliable first) covers 50 %.
    assert coalition.members == ("anna", "ben") and coalition.reserve == ("cleo", "dan")

    # Forecast baseline: every member would have consumed 1,000 Wh per interval.
    forecasts = {o.member: MeterSeries(W, np.full(N, 1000, dtype=np.int64)) for o in offers}
    failing = max(coalition.members, key=lambda m: coalition.targets_wh[m][0])
    delivered = {
        m: [coalition.targets_wh[m][k] if m != failing or k < 2 else 0 for k in range(4)]
        for m in coalition.members
    }
    flags = detect_non_delivery([W + k * Q for k in range(4)], coalition.targets_wh, delivered)
    assert [f.member for f in flags] == [failing]
    assert flags[0].first_failed_s == W + 2 * Q and flags[0].detected_s == W + 3 * Q

    after = replace_member(coalition, creq, failing, flags[0].detected_s + Q, offers, config)
    new = [m for m in after.members if m not in coalition.members]
    assert new and after.total_wh[4:] == qty[4:]

    # Metered: everyone delivers its (new) target exactly, except the failing member from
    # interval 2 on (it delivers nothing, its targets for 2 and 3 stand).
    meter = {}
    for o in offers:
        target = np.asarray(after.targets_wh.get(o.member, (0,) * N), dtype=np.int64)
        used = 1000 - target
        if o.member == failing:
            used[2:] = 1000
        meter[o.member] = MeterSeries(W, used)
    request = FlexRequest(
        request_id=9, window_start_s=W, quantity_wh=qty, tolerance_bp=1000,
        price_cap_per_kwh=300_000, escrow=10**7, penalty_per_kwh=150_000,
        baseline_method_id=BaselineMethod.FORECAST, baseline_params=ForecastParams().encode(),
    )
    members = list(after.members)
    result = settle(request, members, after.targets_wh, meter, forecasts)
    assert result.escrow == result.payout_total + result.refund
    bad = result.member(failing)
    # Shortfall beyond the 10 % tolerance: 90 % of its target.
    assert bad.shortfall_wh[2:4] == (after.targets_wh[failing][2] * 9 // 10,) * 2
    assert bad.shortfall_wh[4:] == (0,) * (N - 4)
    assert bad.penalty_total > 0 and bad.non_delivery is not None
    for m in new:
        s = result.member(m)
        assert s.credited_wh == after.targets_wh[m] and s.penalty_total == 0
        assert s.payout == s.reward_total > 0
    # Only intervals 2 and 3 miss the request.
    assert [i.within_tolerance for i in result.intervals] == [
        True, True, False, False, True, True, True, True
    ]
    # The coalition's payout split by Shapley adds up to what was paid.
    d = compute_deliveries(request, members, after.targets_wh, meter, forecasts)
    game = FlexGame(d.members, d.delivered_wh, np.asarray(qty) * 11 // 10)
    shares = share_reward(result.payout_total, game, "shapley")
    assert sum(shares.values()) == result.payout_total
