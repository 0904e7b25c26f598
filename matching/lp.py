"""Independent welfare-maximisation linear program over one order book (HiGHS via highspy).

The reference the engine is measured against: it knows nothing of priorities, walks or
pricing rules, only

    maximise   sum_b p_b x_b - sum_o p_o y_o          (price*Wh)
    subject to sum_b x_b - sum_o y_o = 0              (supply equals demand)
               0 <= x_b <= q_b,  0 <= y_o <= q_o      (Wh)

solved by HiGHS (dual simplex) in floating point. Its optimal welfare equals the engine's
welfare up to the solver's tolerance. Its volume need not equal the engine's when some bid and
offer share a price (trading between them adds zero welfare, so any such volume is optimal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import highspy
import numpy as np
import numpy.typing as npt

from matching.domain import Order, Side
from matching.errors import MatchingError

__all__ = ["LpResult", "LpSolveFailed", "solve_welfare_lp", "solve_welfare_lp_arrays"]


class LpSolveFailed(MatchingError):
    """HiGHS did not reach an optimal solution (it always exists: x = y = 0 is feasible)."""

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
        HiGHS model status, as text.
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

    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = 1
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = sign * price
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = qty
    lp.row_lower_ = np.zeros(1)
    lp.row_upper_ = np.zeros(1)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.arange(n + 1, dtype=np.int32)
    lp.a_matrix_.index_ = np.zeros(n, dtype=np.int32)
    lp.a_matrix_.value_ = sign

    h = highspy.Highs()
    h.silent()
    h.setOptionValue("solver", "simplex")
    h.passModel(lp)
    h.run()
    model_status = h.getModelStatus()
    status = h.modelStatusToString(model_status)
    if model_status != highspy.HighsModelStatus.kOptimal:
        raise LpSolveFailed(status)
    values = np.asarray(h.getSolution().col_value, dtype=np.float64)
    welfare = float(h.getInfo().objective_function_value)
    volume = float(values[sides == Side.BID].sum())
    return LpResult(welfare, volume, status)


def solve_welfare_lp(orders: Sequence[Order]) -> LpResult:
    """Solve the welfare LP for a list of :class:`~matching.domain.Order`."""
    return solve_welfare_lp_arrays(
        [o.side for o in orders], [o.qty_wh for o in orders], [o.price_per_kwh for o in orders]
    )
