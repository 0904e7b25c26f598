"""Independent welfare-maximisation linear program over one order book (OR-Tools GLOP).

The reference the engine is measured against: it knows nothing of priorities, walks or
pricing rules, only

    maximise   sum_b p_b x_b - sum_o p_o y_o          (price*Wh)
    subject to sum_b x_b - sum_o y_o = 0              (supply equals demand)
               0 <= x_b <= q_b,  0 <= y_o <= q_o      (Wh)

solved by OR-Tools' GLOP simplex solver in floating point (through ``model_builder``). HiGHS
through ``highspy`` was used first; it cannot share a process with OR-Tools (both load a
``libhighs`` of different versions and one fails with undefined symbols), and the coalition
engine needs OR-Tools' CP-SAT. Its optimal welfare equals the engine's
welfare up to the solver's tolerance. Its volume need not equal the engine's when some bid and
offer share a price (trading between them adds zero welfare, so any such volume is optimal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from ortools.linear_solver.python import model_builder as mb

from core.rules import Side
from matching.domain import Order
from matching.errors import MatchingError

__all__ = ["LpResult", "LpSolveFailed", "solve_welfare_lp", "solve_welfare_lp_arrays"]


class LpSolveFailed(MatchingError):
    """GLOP did not reach an optimal solution (it always exists: x = y = 0 is feasible)."""

    def __init__(self, status: str) -> None:
        self.status = status
        super().__init__(f"welfare LP not solved to optimality: {status}")


@dataclass(frozen=True)
class LpResult:
    """Optimum of the welfare LP.

    Attributes
    ----------
    welfare
        Optimal sum(p_b x_b) - sum(p_o y_o), price*Wh (float).
    volume_wh
        sum(x_b) at the optimum found, Wh (float; one optimal volume among possibly many).
    status
        Solver status, as text.
    """

    welfare: float
    volume_wh: float
    status: str


def solve_welfare_lp_arrays(
    side: npt.ArrayLike, qty_wh: npt.ArrayLike, price_per_kwh: npt.ArrayLike
) -> LpResult:
    """Solve the welfare LP for a book given as columns (side 0 = bid, 1 = offer).

    Columns are assumed valid (see :func:`matching.engine.clear_arrays` for the checks).
    """
    sides = np.asarray(side, dtype=np.int64)
    qty = np.asarray(qty_wh, dtype=np.float64)
    price = np.asarray(price_per_kwh, dtype=np.float64)
    n = int(sides.size)
    if n == 0 or not (sides == Side.BID).any() or not (sides == Side.OFFER).any():
        return LpResult(0.0, 0.0, "Optimal")
    sign = np.where(sides == Side.BID, 1.0, -1.0)

    model = mb.Model()
    index = pd.RangeIndex(n)
    x = model.new_num_var_series(
        "x", index, lower_bounds=0.0, upper_bounds=pd.Series(qty, index=index)
    )
    variables = x.tolist()
    model.add(mb.LinearExpr.weighted_sum(variables, sign.tolist()) == 0)
    model.maximize(mb.LinearExpr.weighted_sum(variables, (sign * price).tolist()))
    solver = mb.Solver("glop")
    result = solver.solve(model)
    status = result.name.title()
    if result != mb.SolveStatus.OPTIMAL:
        raise LpSolveFailed(status)
    values = solver.values(x).to_numpy(dtype=np.float64)
    welfare = float(solver.objective_value)
    volume = float(values[sides == Side.BID].sum())
    return LpResult(welfare, volume, status)


def solve_welfare_lp(orders: Sequence[Order]) -> LpResult:
    """Solve the welfare LP for a list of :class:`~matching.domain.Order`."""
    return solve_welfare_lp_arrays(
        [o.side for o in orders], [o.qty_wh for o in orders], [o.price_per_kwh for o in orders]
    )
