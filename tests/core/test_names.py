"""Participants in log lines: ``"Name (0x1234…)"`` where a display name is known."""

from __future__ import annotations

from coalitions.service import Step
from core.names import label
from settlement.disputes import DisputeStep

ANNA = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"
LUCA = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"
NAMES = {ANNA: "Anna Becker"}


def test_label_shows_the_name_and_a_short_address_or_the_whole_address():
    assert label(ANNA, NAMES) == "Anna Becker (0x9965\u2026)"
    assert label(LUCA, NAMES) == LUCA  # no name: nothing shown less precisely
    assert label(ANNA) == ANNA
    assert label(None, NAMES) == "-"


def test_coordination_steps_name_their_members():
    step = Step(
        "replaced",
        3,
        {"member": ANNA, "reserve": LUCA, "from_interval": 2, "delivered_wh": 10, "target_wh": 90},
    )
    assert f"Anna Becker (0x9965\u2026) -> reserve {LUCA} from interval 2" in step.describe(NAMES)
    assert f"{ANNA} -> reserve {LUCA}" in step.describe()
    dispute = DisputeStep(
        "disputed", 3, 1, ANNA, {"payout_before": 5, "payout_after": 4, "bond_paid": 1}
    )
    assert "row 1 (Anna Becker (0x9965\u2026)) corrected" in dispute.describe(NAMES)
