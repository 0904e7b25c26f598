"""Reward sharing: exact integer splits, Shapley efficiency and symmetry, sampling."""

from __future__ import annotations

from fractions import Fraction
from itertools import permutations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coalitions.errors import InvalidSharingInput
from coalitions.sharing import (
    FlexGame,
    allocate,
    shapley_exact,
    shapley_sampled,
    share_reward,
)


def test_largest_remainder_split_is_exact_and_deterministic() -> None:
    assert allocate(10, {"b": 1, "a": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}
    assert allocate(100, {"a": 1, "b": 3}) == {"a": 25, "b": 75}
    assert allocate(7, {"a": 0, "b": 0}) == {"a": 4, "b": 3}
    assert allocate(0, {}) == {}
    with pytest.raises(InvalidSharingInput):
        allocate(5, {})
    with pytest.raises(InvalidSharingInput):
        allocate(5, {"a": -1, "b": 2})
    with pytest.raises(InvalidSharingInput):
        allocate(-1, {"a": 1})


@given(
    st.integers(0, 10**15),
    st.dictionaries(st.text(min_size=1, max_size=4), st.integers(0, 10**9), min_size=1,
                    max_size=12),
)
def test_allocation_adds_up_and_stays_within_one_unit_of_pro_rata(
    total: int, weights: dict[str, int]
) -> None:
    shares = allocate(total, weights)
    assert sum(shares.values()) == total and all(v >= 0 for v in shares.values())
    w = sum(weights.values())
    for m, v in shares.items():
        ideal = Fraction(total * weights[m], w) if w else Fraction(total, len(weights))
        assert abs(v - ideal) < 1


def test_shapley_rewards_delivery_where_it_was_scarce() -> None:
    # Cap 100 Wh in each interval. A delivers only in interval 0 (where B already covers the
    # cap), B in both. v(A) = 100, v(B) = 200, v(AB) = 200: phi_A = 50, phi_B = 150.
    game = FlexGame.from_mapping({"A": [100, 0], "B": [100, 100]}, cap_wh=[100, 100])
    assert shapley_exact(["A", "B"], game) == {"A": Fraction(50), "B": Fraction(150)}
    assert share_reward(200, game, "shapley") == {"A": 50, "B": 150}
    # Pro rata by delivered Wh would give A a third.
    assert share_reward(300, game, "proportional") == {"A": 100, "B": 200}


def test_without_a_cap_shapley_equals_proportional() -> None:
    game = FlexGame.from_mapping({"a": [10, 20], "b": [5, 0], "c": [0, 65]})
    phi = shapley_exact(game.players, game)
    assert phi == {"a": 30, "b": 5, "c": 65}
    assert share_reward(1000, game, "shapley") == share_reward(1000, game, "proportional")


def test_generic_value_function_matches_the_game_and_brute_force() -> None:
    game = FlexGame.from_mapping(
        {"a": [40, 10, 0], "b": [30, 30, 30], "c": [50, 0, 80], "d": [-20, 5, 5]},
        cap_wh=[60, 35, 90],
    )
    players = list(game.players)
    fast = shapley_exact(players, game)
    generic = shapley_exact(players, game.value)
    assert fast == generic
    # Brute force over all orderings.
    brute = dict.fromkeys(players, Fraction(0))
    orders = list(permutations(players))
    for order in orders:
        before: set[str] = set()
        for p in order:
            brute[p] += Fraction(game.value(before | {p}) - game.value(before), len(orders))
            before.add(p)
    assert fast == brute
    assert fast["d"] >= 0  # negative delivery counts as 0


@st.composite
def games(draw: st.DrawFn, max_players: int = 7) -> FlexGame:
    n = draw(st.integers(1, max_players))
    t = draw(st.integers(1, 4))
    rows = {
        f"p{i}": draw(st.lists(st.integers(-50, 200), min_size=t, max_size=t)) for i in range(n)
    }
    cap = draw(st.one_of(st.none(), st.lists(st.integers(0, 400), min_size=t, max_size=t)))
    return FlexGame.from_mapping(rows, cap)


@settings(max_examples=60, deadline=None)
@given(games(), st.integers(0, 10**12))
def test_shapley_is_efficient_and_shares_add_up(game: FlexGame, total: int) -> None:
    phi = shapley_exact(game.players, game)
    assert sum(phi.values()) == game.value(set(game.players))
    assert all(v >= 0 for v in phi.values())
    shares = share_reward(total, game, "shapley")
    assert sum(shares.values()) == total
    sampled = shapley_sampled(game, samples=50, seed=1)
    assert sum(sampled.values()) == game.value(set(game.players))


@settings(max_examples=40, deadline=None)
@given(games(max_players=5), st.data())
def test_symmetric_members_get_the_same_value(game: FlexGame, data: st.DataObject) -> None:
    # Give a clone of player 0 the same deliveries: both must get the same Shapley value.
    rows = {p: game.delivered_wh[i].tolist() for i, p in enumerate(game.players)}
    rows["clone"] = list(rows[game.players[0]])
    cap = None if game.cap_wh is None else game.cap_wh.tolist()
    twin = FlexGame.from_mapping(rows, cap)
    phi = shapley_exact(twin.players, twin)
    assert phi["clone"] == phi[game.players[0]]
    total = data.draw(st.integers(0, 10**9))
    shares = share_reward(total, twin, "shapley")
    assert abs(shares["clone"] - shares[game.players[0]]) <= 1


def test_sampling_is_seeded_and_close_to_exact() -> None:
    rng = np.random.default_rng(3)
    rows = {f"m{i}": rng.integers(0, 100, 4).tolist() for i in range(9)}
    game = FlexGame.from_mapping(rows, cap_wh=[300, 250, 300, 200])
    exact = shapley_exact(game.players, game)
    a = shapley_sampled(game, samples=4000, seed=7)
    assert a == shapley_sampled(game, samples=4000, seed=7)
    assert a != shapley_sampled(game, samples=4000, seed=8)
    scale = game.value(set(game.players))
    for p in game.players:
        assert abs(float(a[p] - exact[p])) < 0.03 * scale
    # Above the exact limit share_reward samples, and still adds up.
    shares = share_reward(10**6, game, "shapley", samples=500, seed=1, exact_max_players=4)
    assert sum(shares.values()) == 10**6


def test_large_coalition_shapley_is_sampled() -> None:
    rng = np.random.default_rng(0)
    rows = {f"m{i:03d}": rng.integers(0, 500, 16).tolist() for i in range(200)}
    game = FlexGame.from_mapping(rows, cap_wh=[20_000] * 16)
    shares = share_reward(5_000_000, game, "shapley", samples=200, seed=0)
    assert sum(shares.values()) == 5_000_000
    assert shares == share_reward(5_000_000, game, "shapley", samples=200, seed=0)
    with pytest.raises(InvalidSharingInput):
        shapley_exact(game.players, game)


def test_sharing_input_errors() -> None:
    game = FlexGame.from_mapping({"a": [1]})
    with pytest.raises(InvalidSharingInput):
        share_reward(10, game, "equal")  # type: ignore[arg-type]
    with pytest.raises(InvalidSharingInput):
        shapley_sampled(game, samples=0)
    with pytest.raises(InvalidSharingInput):
        FlexGame.from_mapping({"a": [1, 2], "b": [1]})
    with pytest.raises(InvalidSharingInput):
        FlexGame.from_mapping({"a": [1]}, cap_wh=[-1])
    with pytest.raises(InvalidSharingInput):
        shapley_exact(["a", "a"], game)
