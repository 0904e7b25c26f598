"""The golden vectors of the money rules (tests/golden/rules.json) against the Solidity
library FlexRules, through its test harness: the same file runs against core.rules
(tests/core/test_rules.py), so Python and Solidity cannot drift."""

import json
from pathlib import Path

import pytest

GOLDEN = json.loads((Path(__file__).parents[1] / "golden" / "rules.json").read_text())
SOLIDITY = {
    "energy_cost": "energyCost",
    "pro_rata": "proRata",
    "upper_wh": "upperWh",
    "lower_wh": "lowerWh",
    "within_tolerance": "withinTolerance",
    "credited_wh": "creditedWh",
    "shortfall_wh": "shortfallWh",
    "delivered_wh": "deliveredWh",
    "div_round": "divRound",
    "interval_points": "intervalPoints",
}


@pytest.fixture(scope="module")
def harness(FlexRulesHarness, admin):
    return FlexRulesHarness.deploy({"from": admin})


def test_every_golden_rule_has_a_solidity_twin():
    assert set(GOLDEN) == set(SOLIDITY)


@pytest.mark.parametrize("name", sorted(SOLIDITY))
def test_golden_vectors_on_chain(harness, name):
    fn = getattr(harness, SOLIDITY[name])
    for case in GOLDEN[name]:
        assert fn(*case["args"]) == case["expected"], (name, case)
