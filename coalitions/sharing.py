"""Sharing a coalition's reward among its members: by contribution or by Shapley value.

The reward to share is an int (token base units, or reputation points); every method returns
integer shares that add up to it exactly (:func:`allocate`, largest remainder).

The game
--------
:class:`FlexGame` is the value of a sub-coalition ``S``: the energy it would have been credited,
``v(S) = sum_t min(sum_{i in S} max(d[i, t], 0), cap[t])`` Wh, with ``d`` the members'
delivered flexibility and ``cap[t]`` what the DSO pays for at most in interval t (its quantity
plus tolerance; no cap: ``v`` is additive and Shapley equals the proportional split). ``v`` is
monotone and >= 0, so Shapley values are >= 0. Once the request's cap binds, members who
delivered the same energy in scarce intervals are worth more than in oversupplied ones, which
is what Shapley captures and a pro-rata split does not.

Methods
-------
* ``"proportional"``: shares by ``sum_t max(d[i, t], 0)``.
* ``"shapley"``: exact Shapley values for at most ``exact_max_players`` members (all 2^n
  sub-coalitions, exact rationals); above that, Monte-Carlo over ``samples`` random
  permutations drawn from ``numpy.random.default_rng(seed)`` (each permutation's marginal
  contributions are ints that add up to ``v(N)``, so the estimate is efficient by
  construction).

References
----------
L. S. Shapley, "A value for n-person games", *Contributions to the Theory of Games II* (1953).
S. Castro, D. Gómez, J. Tejada, "Polynomial calculation of the Shapley value based on
sampling", *Computers & Operations Research* 36 (2009): the permutation sampling used here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np

from coalitions.errors import InvalidSharingInput

__all__ = [
    "FlexGame",
    "allocate",
    "shapley_exact",
    "shapley_sampled",
    "share_reward",
]

EXACT_MAX_PLAYERS = 12
"""Most players for which exact Shapley values are computed (2^12 sub-coalitions)."""


def allocate(total: int, weights: Mapping[str, int | Fraction | float]) -> dict[str, int]:
    """Split ``total`` in proportion to ``weights`` into ints that add up to ``total``.

    Largest remainder (Hamilton): each gets ``floor(total * w / W)``, the leftover units go
    one each to the largest remainders (ties: member id order). With all weights 0 the total
    is split equally (same rule). Weights must be >= 0; ``total`` >= 0.
    """
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise InvalidSharingInput(f"total must be an int >= 0, got {total!r}")
    if not weights:
        if total:
            raise InvalidSharingInput("a positive total needs at least one member")
        return {}
    exact: dict[str, Fraction] = {}
    for member, w in weights.items():
        f = Fraction(w)
        if f < 0:
            raise InvalidSharingInput(f"weight of {member!r} is negative ({w})")
        exact[member] = f
    weight_sum = sum(exact.values(), Fraction(0))
    if weight_sum == 0:
        exact = {m: Fraction(1) for m in exact}
        weight_sum = Fraction(len(exact))
    ideal = {m: total * w / weight_sum for m, w in exact.items()}
    shares = {m: math.floor(v) for m, v in ideal.items()}
    left = total - sum(shares.values())
    order = sorted(ideal, key=lambda m: (-(ideal[m] - shares[m]), m))
    for m in order[:left]:
        shares[m] += 1
    return shares


@dataclass(frozen=True, eq=False)
class FlexGame:
    """The credited-energy game of a coalition (see the module docstring).

    Parameters
    ----------
    players
        Member ids, in the row order of ``delivered_wh``.
    delivered_wh
        Delivered flexibility per member (rows) and interval (columns), Wh; negatives count 0.
    cap_wh
        Per-interval cap on what is credited, Wh (``None``: no cap).
    """

    players: tuple[str, ...]
    delivered_wh: np.ndarray
    cap_wh: np.ndarray | None = None

    def __post_init__(self) -> None:
        d = np.maximum(np.asarray(self.delivered_wh, dtype=np.int64), 0)
        if d.ndim != 2 or d.shape[0] != len(self.players):
            raise InvalidSharingInput("delivered_wh must have one row per player")
        if len(set(self.players)) != len(self.players):
            raise InvalidSharingInput("players must be unique")
        object.__setattr__(self, "delivered_wh", d)
        if self.cap_wh is not None:
            cap = np.asarray(self.cap_wh, dtype=np.int64)
            if cap.shape != (d.shape[1],) or (cap < 0).any():
                raise InvalidSharingInput("cap_wh must have one value >= 0 per interval")
            object.__setattr__(self, "cap_wh", cap)

    @classmethod
    def from_mapping(
        cls, delivered_wh: Mapping[str, Sequence[int]], cap_wh: Sequence[int] | None = None
    ) -> FlexGame:
        """A game from ``{member: delivered Wh per interval}``."""
        players = tuple(delivered_wh)
        rows = [list(delivered_wh[m]) for m in players]
        n_t = len(rows[0]) if rows else (len(cap_wh) if cap_wh is not None else 0)
        if any(len(r) != n_t for r in rows):
            raise InvalidSharingInput("every member needs one value per interval")
        matrix = np.asarray(rows, dtype=np.int64).reshape(len(players), n_t)
        return cls(players, matrix, None if cap_wh is None else np.asarray(cap_wh))

    def _credit(self, sums: np.ndarray) -> np.ndarray:
        """Credited energy of coalitions whose per-interval sums are the last axis."""
        if self.cap_wh is None:
            return sums.sum(axis=-1)
        return np.minimum(sums, self.cap_wh).sum(axis=-1)

    def value(self, coalition: frozenset[str] | set[str]) -> int:
        """``v(S)``, Wh."""
        rows = [i for i, p in enumerate(self.players) if p in coalition]
        return int(self._credit(self.delivered_wh[rows].sum(axis=0)))


def shapley_exact(
    players: Sequence[str], value: Callable[[frozenset[str]], int] | FlexGame
) -> dict[str, Fraction]:
    """Exact Shapley values (rationals) over all 2^n sub-coalitions.

    ``phi_i = sum_{S not containing i} |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S))``.
    At most :data:`EXACT_MAX_PLAYERS` players.
    """
    n = len(players)
    if n > EXACT_MAX_PLAYERS:
        raise InvalidSharingInput(
            f"exact Shapley values for {n} players: at most {EXACT_MAX_PLAYERS}, use sampling"
        )
    if len(set(players)) != n:
        raise InvalidSharingInput("players must be unique")
    if n == 0:
        return {}
    masks = 1 << n
    if isinstance(value, FlexGame):
        rows = [value.players.index(p) for p in players]
        d = value.delivered_wh[rows]
        sums = np.zeros((masks, d.shape[1]), dtype=np.int64)
        for mask in range(1, masks):
            low = (mask & -mask).bit_length() - 1
            sums[mask] = sums[mask & (mask - 1)] + d[low]
        v = [int(x) for x in value._credit(sums)]
    else:
        v = [
            int(value(frozenset(players[k] for k in range(n) if mask >> k & 1)))
            for mask in range(masks)
        ]
    weight = [math.factorial(s) * math.factorial(n - s - 1) for s in range(n)]
    totals = [0] * n
    for mask in range(masks):
        size = mask.bit_count()
        for k in range(n):
            if not mask >> k & 1:
                totals[k] += weight[size] * (v[mask | (1 << k)] - v[mask])
    denom = math.factorial(n)
    return {players[k]: Fraction(totals[k], denom) for k in range(n)}


def shapley_sampled(game: FlexGame, samples: int = 2000, seed: int = 0) -> dict[str, Fraction]:
    """Monte-Carlo Shapley values over ``samples`` seeded random permutations.

    Each permutation adds the members one by one; a member's marginal contribution is the
    increase of ``v``. The estimate is the mean over permutations (a rational: the sum of int
    marginals over ``samples``); the estimates add up to ``v(N)`` exactly.
    """
    if samples < 1:
        raise InvalidSharingInput(f"samples must be >= 1, got {samples}")
    n = len(game.players)
    if n == 0:
        return {}
    rng = np.random.default_rng(seed)
    d = game.delivered_wh
    totals = np.zeros(n, dtype=np.int64)
    chunk = max(1, 200_000 // max(1, n * d.shape[1]))
    done = 0
    while done < samples:
        k = min(chunk, samples - done)
        perms = np.argsort(rng.random((k, n)), axis=1)
        prefix = np.cumsum(d[perms], axis=1)  # k x n x T
        credited = game._credit(prefix)  # k x n
        marginal = np.diff(credited, axis=1, prepend=0)
        np.add.at(totals, perms.ravel(), marginal.ravel())
        done += k
    return {game.players[i]: Fraction(int(totals[i]), samples) for i in range(n)}


def share_reward(
    total: int,
    game: FlexGame,
    method: Literal["proportional", "shapley"] = "proportional",
    samples: int = 2000,
    seed: int = 0,
    exact_max_players: int = 10,
) -> dict[str, int]:
    """Split ``total`` among the game's players; the shares add up to ``total`` exactly.

    Parameters
    ----------
    total
        What to share (token base units or points), >= 0.
    game
        Members' delivered flexibility and the request's cap (:class:`FlexGame`).
    method
        ``"proportional"`` (by delivered Wh) or ``"shapley"``.
    samples, seed
        Monte-Carlo permutations and their seed (Shapley with more than
        ``exact_max_players`` members).
    exact_max_players
        Up to this many members Shapley values are exact.
    """
    if method == "proportional":
        weights: dict[str, int | Fraction] = {
            p: int(game.delivered_wh[i].sum()) for i, p in enumerate(game.players)
        }
    elif method == "shapley":
        if len(game.players) <= min(exact_max_players, EXACT_MAX_PLAYERS):
            weights = dict(shapley_exact(game.players, game))
        else:
            weights = dict(shapley_sampled(game, samples, seed))
    else:
        raise InvalidSharingInput(f"unknown method {method!r}: proportional or shapley")
    return allocate(total, weights)
