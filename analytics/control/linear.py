"""The twin's network as a linear model, and model-predictive control over it.

Each 15-minute step of the 5R1C network is affine in the system's heat ``phi`` (see
:mod:`analytics.thermal.network`): the mass temperature moves as ``m' = a m + dm phi + ...`` and
the air is ``air = air_free + alpha (m - m_free) + g phi``. So over a horizon of H steps from a
known state, the air temperatures are the free-floating run (the compiled twin with no heat) plus
a lower-triangular matrix times the heat plan: :func:`response_matrix`. The one thing left out is
the hot-water tank's standing loss, which depends on the air (a few watts).

:func:`mpc_plan` solves, for one home, the linear programme over the horizon (HiGHS through
:func:`scipy.optimize.linprog`): heating (heat pump, its backup heater, resistance or boiler) and
cooling heat within each step's capacity, battery charge and discharge within power and charge
limits, import and export, soft comfort bounds, committed targets, the period's peak; the
objective is the user's cost function (:mod:`analytics.control.costs`) with the horizon's end
charge of the battery valued at the horizon's mean price. :class:`MpcPolicy` in
:mod:`analytics.control.policies` applies the plan's first step and solves again at the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from analytics.control.costs import CostFunction
from analytics.control.errors import ControlConfigError
from analytics.control.homes import STEP_H, STEP_S
from analytics.control.plant import Plant
from analytics.thermal.network import NetworkArrays
from analytics.thermal.systems import (
    cooling_eer,
    heat_pump_capacity,
    heat_pump_cop,
    supply_temperature,
)

FUEL_PRICE_PER_KWH = 0.08
"""Price of a boiler's fuel, per kWh (the cost function has no fuel series yet)."""
_EPS = 1e-7  # tie-breaker per W: no heat and no battery cycling that buys nothing


def step_constants(arrays: NetworkArrays, n: int, dt: float = STEP_S) -> tuple[float, ...]:
    """``(a, dm, alpha, g)`` of home ``n`` (module docstring; the kernel's own algebra)."""
    h_ve, h_is, h_w = arrays.h_ve[n], arrays.h_tr_is[n], arrays.h_tr_w[n]
    h_ms, h_em, c_m = arrays.h_tr_ms[n], arrays.h_tr_em[n], arrays.c_m[n]
    h1 = 1.0 / (1.0 / h_ve + 1.0 / h_is)
    h2 = h1 + h_w
    h3 = 1.0 / (1.0 / h2 + 1.0 / h_ms)
    cdt = c_m / dt
    hsum = 0.5 * (h3 + h_em)
    denom = cdt + hsum
    sden = h_ms + h_w + h1
    dm = h3 * h1 / (h_ve * h2) / denom
    ds = (h_ms * 0.5 * dm + h1 / h_ve) / sden
    g = (h_is * ds + 1.0) / (h_is + h_ve)
    a = (cdt - hsum) / denom
    alpha = h_is / (h_is + h_ve) * h_ms * 0.5 * (a + 1.0) / sden
    return float(a), float(dm), float(alpha), float(g)


def response_matrix(constants: tuple[float, ...], horizon: int) -> np.ndarray:
    """(H, H): air temperature change at each step per W of heat at each step."""
    a, dm, alpha, g = constants
    out = np.zeros((horizon, horizon))
    for t in range(horizon):
        out[t, t] = g
        for k in range(t):
            out[t, k] = alpha * dm * a ** (t - 1 - k)
    return out


@dataclass
class Plan:
    """One home's plan over the horizon (W, degC)."""

    heat_w: np.ndarray
    """Heating (+) / cooling (-) heat into the air, per step."""
    indoor_c: np.ndarray
    battery_w: np.ndarray
    net_import_w: np.ndarray
    heat_pump_cap_w: float
    """The heat pump's capacity in the first step (0: not a heat pump)."""
    status: str


def _capacities(plant: Plant, n: int, t0: int, horizon: int) -> tuple[np.ndarray, ...]:
    """Per step: heat pump / direct heating capacity and its COP, backup heater capacity,
    cooling capacity and EER (0 where the home's mode or the occupants rule a side out)."""
    c = plant.c
    home = c.prepared.homes[n]
    s = home.system
    p = c.prepared.profile[n]
    window = slice(t0, t0 + horizon)
    te = c.prepared.outdoor[window]
    on = c.home_on[window, n] > 0.5
    heat_side = (c.prepared.heat_sp[window, p] > -40) & on
    cool_side = (c.prepared.cool_sp[window, p] < 70) & on
    cap_h, cop_h, cap_b, cap_c, eer = (np.zeros(horizon) for _ in range(5))
    for k in range(horizon):
        if s.code == 2:
            cap_h[k] = heat_pump_capacity(s.heating_w, te[k], s.capacity_slope)
            sup = supply_temperature(te[k], s.supply_design_c, s.supply_min_c, s.outdoor_design_c)
            cop_h[k] = heat_pump_cop(te[k], sup, s.carnot_fraction)
            cap_b[k] = s.backup_w
        elif s.code in (1, 3):
            cap_h[k] = s.heating_w
            cop_h[k] = 1.0 if s.code == 3 else np.inf  # boiler: no electricity (fuel priced)
        if s.cooling_w > 0:
            cap_c[k] = s.cooling_w
            eer[k] = cooling_eer(te[k], s.chilled_c, s.carnot_fraction)
    cap_h[~heat_side] = 0.0
    cap_b[~heat_side] = 0.0
    cap_c[~cool_side] = 0.0
    return cap_h, cop_h, cap_b, cap_c, np.where(eer > 0, eer, 1.0)


def free_run(plant: Plant, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Air temperature and electricity (hot water) of every home with no space heat or cooling
    over the next ``horizon`` steps from the plant's state; arrays (H, N)."""
    c, t0 = plant.c, plant.t
    run = c.prepared.run(
        t0,
        t0 + horizon,
        heat_given_w=np.zeros((horizon, c.n_homes)),
        initial_mass_c=plant.mass_c,
        initial_tank_c=plant.tank_c,
    )
    return run.indoor_c, run.electricity_w


def mpc_plan(
    plant: Plant,
    n: int,
    horizon: int,
    cost: CostFunction,
    free: tuple[np.ndarray, np.ndarray],
    matrix: np.ndarray,
) -> Plan:
    """The optimal plan of home ``n`` over the next ``horizon`` steps (module docstring).
    ``free`` is :func:`free_run`'s output (all homes), ``matrix`` the home's
    :func:`response_matrix`."""
    c, t0 = plant.c, plant.t
    H = horizon
    if not 1 <= H <= c.n_steps - t0:
        raise ControlConfigError(f"horizon {H} does not fit the {c.n_steps - t0} steps left")
    window = slice(t0, t0 + H)
    air_ff, elec_ff = free[0][:, n], free[1][:, n]
    cap_h, cop_h, cap_b, cap_c, eer = _capacities(plant, n, t0, H)
    boiler = c.prepared.homes[n].system.code == 1
    eta = c.prepared.homes[n].system.eta_full
    price = c.price[window]
    w = cost.w
    dtk = STEP_H / 1000.0  # W over a step -> kWh
    # variables: qh, qb, qc, ch, dis, imp, exp, sl, sh, tp, tn (H each), peak
    names = ("qh", "qb", "qc", "ch", "dis", "imp", "exp", "sl", "sh", "tp", "tn")
    idx = {name: np.arange(k * H, (k + 1) * H) for k, name in enumerate(names)}
    n_var = len(names) * H + 1
    peak = n_var - 1
    obj = np.zeros(n_var)
    obj[idx["imp"]] = (w("cost") * price + w("emissions") * c.carbon[window]) * dtk
    obj[idx["exp"]] = -w("cost") * cost.feed_in_share * price * dtk
    obj[idx["sl"]] = obj[idx["sh"]] = max(w("comfort"), 1e-3) * STEP_H
    obj[idx["tp"]] = obj[idx["tn"]] = w("tracking") * dtk
    obj[peak] = w("peak") / 1000.0
    for name in ("qh", "qb", "qc", "ch", "dis"):
        obj[idx[name]] += _EPS
    if boiler:
        obj[idx["qh"]] += w("cost") * FUEL_PRICE_PER_KWH / eta * dtk
    b = plant.c.batteries[n]
    eff = b.efficiency if b else 1.0
    if b is not None:  # stored energy at the horizon's end is worth its mean price
        value = w("cost") * float(price.mean()) * dtk
        obj[idx["ch"]] -= value * eff
        obj[idx["dis"]] += value / eff
    bounds = np.zeros((n_var, 2))
    bounds[:, 1] = np.inf
    bounds[idx["qh"], 1] = cap_h
    bounds[idx["qb"], 1] = cap_b
    bounds[idx["qc"], 1] = cap_c
    bounds[idx["ch"], 1] = plant.power_w[n]
    bounds[idx["dis"], 1] = plant.power_w[n]
    bounds[peak, 0] = plant.peak_w[n]
    rows_ub: list[np.ndarray] = []
    rhs_ub: list[np.ndarray] = []

    def block(cols: dict[str, np.ndarray], rows: int) -> np.ndarray:
        out = np.zeros((rows, n_var))
        for name, m in cols.items():
            if name == "peak":
                out[:, peak] = np.asarray(m).reshape(rows)
            else:
                out[:, idx[name]] = m
        return out

    eye = np.eye(H)
    lo, hi = c.band_low[window, n], c.band_high[window, n]
    low_rows, high_rows = np.isfinite(lo), np.isfinite(hi)
    if low_rows.any():  # air_ff + M q + sl >= lo
        m = matrix[low_rows]
        rows_ub.append(
            block({"qh": -m, "qb": -m, "qc": m, "sl": -eye[low_rows]}, int(low_rows.sum()))
        )
        rhs_ub.append(air_ff[low_rows] - lo[low_rows])
    if high_rows.any():  # air_ff + M q - sh <= hi
        m = matrix[high_rows]
        rows_ub.append(
            block({"qh": m, "qb": m, "qc": -m, "sh": -eye[high_rows]}, int(high_rows.sum()))
        )
        rhs_ub.append(hi[high_rows] - air_ff[high_rows])
    if b is not None:
        cum = np.tril(np.ones((H, H))) * STEP_H
        rows_ub.append(block({"ch": cum * eff, "dis": -cum / eff}, H))
        rhs_ub.append(np.full(H, plant.capacity_wh[n] - plant.soc_wh[n]))
        rows_ub.append(block({"ch": -cum * eff, "dis": cum / eff}, H))
        rhs_ub.append(np.full(H, plant.soc_wh[n] - plant.min_wh[n]))
    rows_ub.append(block({"imp": eye, "peak": -np.ones(H)}, H))
    rhs_ub.append(np.zeros(H))
    # balance: imp - exp - qh/cop - qb - qc/eer - ch + dis = base + dhw - pv (+ pumps and fans:
    # auxiliary_w while the system runs, a constant where the free-floating air leaves the band
    # so that the system must run, else in proportion to the heat: exact at full load and off)
    aux = c.prepared.homes[n].system.auxiliary_w
    runs = ((air_ff < lo) & (cap_h + cap_b > 0)) | ((air_ff > hi) & (cap_c > 0))
    aux_h = np.where(runs, 0.0, aux / np.where(cap_h + cap_b > 0, cap_h + cap_b, np.inf))
    aux_c = np.where(runs, 0.0, aux / np.where(cap_c > 0, cap_c, np.inf))
    elec_h = np.where(np.isfinite(cop_h) & (cop_h > 0), 1.0 / np.where(cop_h > 0, cop_h, 1), 0.0)
    rows_eq = [
        block(
            {
                "imp": eye,
                "exp": -eye,
                "qh": -np.diag(elec_h + aux_h),
                "qb": -np.diag(1.0 + aux_h),
                "qc": -np.diag(1.0 / eer + aux_c),
                "ch": -eye,
                "dis": eye,
            },
            H,
        )
    ]
    rhs_eq = [c.base_load_w[window, n] + elec_ff - c.pv_w[window, n] + runs * aux]
    target = c.targets_w[window, n]
    has_t = ~np.isnan(target)
    if has_t.any():
        e = eye[has_t]
        rows_eq.append(block({"imp": e, "exp": -e, "tp": -e, "tn": e}, int(has_t.sum())))
        rhs_eq.append(target[has_t])
    res = linprog(
        obj,
        A_ub=sparse.csc_matrix(np.vstack(rows_ub)),
        b_ub=np.concatenate(rhs_ub),
        A_eq=sparse.csc_matrix(np.vstack(rows_eq)),
        b_eq=np.concatenate(rhs_eq),
        bounds=bounds,
        method="highs",
    )
    if res.x is None:
        raise ControlConfigError(f"MPC for home {c.names[n]}: {res.message}")
    x = res.x
    q = x[idx["qh"]] + x[idx["qb"]] - x[idx["qc"]]
    return Plan(
        heat_w=q,
        indoor_c=air_ff + matrix @ q,
        battery_w=x[idx["ch"]] - x[idx["dis"]],
        net_import_w=x[idx["imp"]] - x[idx["exp"]],
        heat_pump_cap_w=float(cap_h[0]) if c.prepared.homes[n].system.code == 2 else 0.0,
        status=str(res.message),
    )
