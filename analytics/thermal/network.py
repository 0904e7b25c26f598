"""The building as a lumped thermal network: ISO 13790's 5R1C, vectorised over homes.

Nodes (ISO 13790 Annex C): indoor air ``theta_air``, the internal surfaces ``theta_s`` (a star
node) and the thermal mass ``theta_m`` (the only one with a heat capacity, ``C_m``). Five
conductances, W/K:

* ``H_ve``: ventilation and infiltration, air <-> outdoors (``rho c`` = 1200 J/m3K x air
  changes per hour x volume / 3600);
* ``H_tr_is``: air <-> surfaces (3.45 W/m2K x A_t, A_t = 4.5 x floor area);
* ``H_tr_w``: windows, surfaces <-> outdoors (no capacity);
* ``H_tr_ms``: surfaces <-> mass (9.1 W/m2K x A_m, A_m = 2.5 x floor area for a medium
  building);
* ``H_tr_em``: mass <-> outdoors, the opaque envelope less its surface layer
  (``1 / (1/H_op - 1/H_tr_ms)``).

Heat flows, W: internal gains split half to the air, the rest with the solar gains between the
surface and mass nodes by area (ISO 13790 C.1-C.3); the heating/cooling system's heat enters the
air node. The mass node is integrated with ISO 13790's Crank-Nicolson scheme (C.4), written for
any time step ``dt``; air and surface follow algebraically. Every step is therefore affine in the
system's heat ``phi``, ``theta_air = a + g phi`` with ``g`` constant per home, which gives the
heat a thermostat needs in closed form.

The time loop is compiled with numba (:func:`_run`), and loops over homes inside each step, so a
household-year at 15-minute steps takes well under a millisecond once compiled and 1,000 homes
share the same weather arrays (``bright bench thermal``).

Two ways to drive the network:

* **thermostat** (the default): the system keeps the air at or above the heating setpoint less
  half the deadband and at or below the cooling setpoint plus half the deadband, within its
  capacity. A modulating system does this by modulating; an on/off system by cycling at full
  power within the step (its mean heat is the same; its efficiency is that of cycling: a boiler's
  start/stop losses apply to all of its part load). The air node of 5R1C has no heat capacity,
  so the temperature ripple of an on/off thermostat inside its deadband is not resolved: a
  whole 15-minute step at full power would move the air by several kelvin at once;
* **heat given**: the system's heat per step is an input (measured data, a controller's plan);
  the network returns the temperatures it leads to. Calibration fits temperatures this way.

Physical checks (``tests/analytics/thermal/test_network.py``): free-floating decay with
:meth:`Building.time_constant_s`, steady-state heat = :meth:`Building.heat_loss_w_k` x dT, and the
heat balance of each node closing each step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numba import njit

from analytics.thermal.errors import ThermalConfigError
from analytics.thermal.systems import (
    WATER_J_PER_L_K,
    boiler_efficiency,
    cooling_eer,
    heat_pump_capacity,
    heat_pump_cop,
    supply_temperature,
)

H_IS = 3.45
"""Heat transfer coefficient air <-> surfaces, W/m2K (ISO 13790 7.2.2.2)."""
H_MS = 9.1
"""Heat transfer coefficient mass <-> surfaces, W/m2K (ISO 13790 12.2.2)."""
RHO_C_AIR = 1200.0
"""Volumetric heat capacity of air, J/m3K."""
FACADES = ("south", "east", "west", "north")


@dataclass(frozen=True)
class Building:
    """The building fabric of one home (the network's parameters).

    ``window_m2`` gives the glazed area per facade in :data:`FACADES` order; the solar heat that
    reaches the room is the irradiance on each facade x its area x ``g_value`` x ``shading``.
    """

    floor_area_m2: float = 120.0
    h_op_w_k: float = 110.0
    """Opaque envelope (walls, roof, floor), W/K."""
    h_win_w_k: float = 45.0
    """Windows and doors, W/K."""
    ach: float = 0.5
    """Air changes per hour (ventilation and infiltration)."""
    height_m: float = 2.5
    c_m_j_k: float = 165_000.0 * 120.0
    """Internal heat capacity, J/K (ISO 13790 Table 12: 165 kJ/m2K of floor, medium)."""
    mass_area_factor: float = 2.5
    window_m2: tuple[float, float, float, float] = (8.0, 4.0, 4.0, 3.0)
    g_value: float = 0.6
    shading: float = 0.6
    """Frame and shading factor, 0..1."""

    def __post_init__(self) -> None:
        checks = {
            "floor_area_m2": (10.0, 1e6),
            "h_op_w_k": (1.0, 1e6),
            "h_win_w_k": (0.0, 1e6),
            "ach": (0.01, 20.0),
            "height_m": (1.5, 20.0),
            "c_m_j_k": (1e5, 1e12),
            "mass_area_factor": (0.5, 4.0),
            "g_value": (0.0, 1.0),
            "shading": (0.0, 1.0),
        }
        for name, (low, high) in checks.items():
            value = getattr(self, name)
            if not np.isfinite(value) or not low <= value <= high:
                raise ThermalConfigError(f"building: {name} = {value} is outside [{low}, {high}]")
        if len(self.window_m2) != 4 or any(w < 0 for w in self.window_m2):
            raise ThermalConfigError(
                "building: window_m2 needs 4 areas >= 0 (south, east, west, north)"
            )
        if self.h_op_w_k >= self.h_tr_ms:
            raise ThermalConfigError(
                f"building: the opaque envelope ({self.h_op_w_k:.0f} W/K) must conduct less than "
                f"the mass-surface coupling ({self.h_tr_ms:.0f} W/K); raise mass_area_factor"
            )

    # ----------------------------------------------------------------------------------------
    @property
    def a_t(self) -> float:
        return 4.5 * self.floor_area_m2

    @property
    def a_m(self) -> float:
        return self.mass_area_factor * self.floor_area_m2

    @property
    def h_ve(self) -> float:
        return RHO_C_AIR * self.ach * self.floor_area_m2 * self.height_m / 3600.0

    @property
    def h_tr_is(self) -> float:
        return H_IS * self.a_t

    @property
    def h_tr_ms(self) -> float:
        return H_MS * self.a_m

    @property
    def h_tr_em(self) -> float:
        return 1.0 / (1.0 / self.h_op_w_k - 1.0 / self.h_tr_ms)

    def heat_loss_w_k(self) -> float:
        """Steady-state heat-loss coefficient from the indoor air to outdoors, W/K:
        ventilation in parallel with (air-surface in series with windows || opaque)."""
        return self.h_ve + 1.0 / (1.0 / self.h_tr_is + 1.0 / (self.h_tr_w_total + self.h_op_w_k))

    @property
    def h_tr_w_total(self) -> float:
        return self.h_win_w_k

    def time_constant_s(self) -> float:
        """Time constant of the free-floating network, s: ``C_m`` over the conductance that
        discharges the mass node (to outdoors directly and through the surface and air)."""
        h1 = 1.0 / (1.0 / self.h_ve + 1.0 / self.h_tr_is)
        h2 = h1 + self.h_win_w_k
        h3 = 1.0 / (1.0 / h2 + 1.0 / self.h_tr_ms)
        return self.c_m_j_k / (self.h_tr_em + h3)

    def solar_area_m2(self) -> np.ndarray:
        """Effective solar aperture per facade, m2 (glazing x g x shading)."""
        return np.asarray(self.window_m2, dtype=float) * self.g_value * self.shading

    def scaled(self, **factors: float) -> Building:
        """A copy with some parameters multiplied (``scaled(h_op_w_k=0.6)``)."""
        return replace(self, **{k: getattr(self, k) * v for k, v in factors.items()})

    def to_json(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Building:
        data = dict(data)
        if "window_m2" in data:
            data["window_m2"] = tuple(float(x) for x in data["window_m2"])
        return cls(**data)

    @classmethod
    def typical(cls, floor_area_m2: float = 120.0, standard: str = "1980s") -> Building:
        """A detached home of a construction standard: ``pre-1970``, ``1980s``, ``2000s``,
        ``renovated`` or ``passive`` (U-values and airtightness of typical European stock)."""
        u = {
            "pre-1970": (1.4, 3.0, 0.9),
            "1980s": (0.75, 2.7, 0.6),
            "2000s": (0.35, 1.6, 0.45),
            "renovated": (0.25, 1.1, 0.4),
            "passive": (0.12, 0.8, 0.3),
        }
        if standard not in u:
            raise ThermalConfigError(
                f"unknown construction standard {standard!r}; one of {', '.join(u)}"
            )
        u_op, u_win, ach = u[standard]
        envelope = 2.6 * floor_area_m2  # walls, roof and floor of a two-storey detached house
        windows = 0.18 * floor_area_m2
        split = (0.4, 0.2, 0.2, 0.2)
        return cls(
            floor_area_m2=floor_area_m2,
            h_op_w_k=u_op * envelope,
            h_win_w_k=u_win * windows,
            ach=ach,
            c_m_j_k=165_000.0 * floor_area_m2,
            window_m2=tuple(windows * s for s in split),  # type: ignore[arg-type]
        )


@dataclass
class NetworkArrays:
    """Per-home constants of the network, one array element per home (built by :func:`pack`)."""

    h_ve: np.ndarray
    h_tr_is: np.ndarray
    h_tr_w: np.ndarray
    h_tr_ms: np.ndarray
    h_tr_em: np.ndarray
    c_m: np.ndarray
    m_share: np.ndarray
    """Share of (0.5 internal + solar) gains to the mass node: A_m / A_t."""
    s_share: np.ndarray
    """Share to the surface node: 1 - A_m/A_t - H_tr_w / (9.1 A_t)."""
    solar_area: np.ndarray
    """(N, 4) effective solar aperture per facade, m2."""


def pack(buildings: list[Building]) -> NetworkArrays:
    def arr(f: Any) -> np.ndarray:
        return np.array([f(b) for b in buildings], dtype=np.float64)

    return NetworkArrays(
        h_ve=arr(lambda b: b.h_ve),
        h_tr_is=arr(lambda b: b.h_tr_is),
        h_tr_w=arr(lambda b: b.h_win_w_k),
        h_tr_ms=arr(lambda b: b.h_tr_ms),
        h_tr_em=arr(lambda b: b.h_tr_em),
        c_m=arr(lambda b: b.c_m_j_k),
        m_share=arr(lambda b: b.a_m / b.a_t),
        s_share=arr(lambda b: 1.0 - b.a_m / b.a_t - b.h_win_w_k / (H_MS * b.a_t)),
        solar_area=np.array([b.solar_area_m2() for b in buildings], dtype=np.float64).reshape(
            -1, 4
        ),
    )


# ------------------------------------------------------------------------------------------------
# The compiled time loop. Arrays (T, N) are indexed [step, home]; (T, P) profiles are shared by
# homes and picked by ``profile[n]``; a control array with 0 rows means "not given".
# ------------------------------------------------------------------------------------------------


@njit(cache=True)
def _run(  # type: ignore[no-untyped-def]
    dt,
    h_ve,
    h_tr_is,
    h_tr_w,
    h_tr_ms,
    h_tr_em,
    c_m,
    m_share,
    s_share,
    solar_area,
    sys_code,
    heat_cap,
    cool_cap,
    on_off,
    eta_full,
    eta_low,
    plr_min,
    cyc_loss,
    carnot,
    sup_design,
    sup_min,
    out_design,
    cap_slope,
    backup_w,
    chilled_c,
    aux_w,
    dhw_code,
    dhw_vol,
    dhw_set,
    dhw_hyst,
    dhw_ua,
    dhw_w,
    dhw_cold,
    deadband,
    profile,
    gain_scale,
    draw_scale,
    outdoor,
    poa,
    gains,
    heat_sp,
    cool_sp,
    draws,
    sp_offset,
    modulation,
    device_on,
    heat_given,
    extra_gains,
    observed,
    obs_gain,
    theta_m0,
    tank0,
    out_air,
    out_heat,
    out_elec,
    out_fuel,
    out_dhw,
    out_m,
    out_s,
    out_mend,
):
    n_steps = outdoor.shape[0]
    n_homes = h_ve.shape[0]
    theta_m = theta_m0.copy()
    tank = tank0.copy()
    air_prev = theta_m0.copy()
    dhw_on = np.zeros(n_homes, dtype=np.int8)
    tank_loss = np.zeros(n_homes)
    keep_nodes = out_m.shape[0] > 0
    # per-home constants of the affine step (module docstring)
    k_h1 = 1.0 / (1.0 / h_ve + 1.0 / h_tr_is)
    k_h2 = k_h1 + h_tr_w
    k_h3 = 1.0 / (1.0 / k_h2 + 1.0 / h_tr_ms)
    k_cdt = c_m / dt
    k_hsum = 0.5 * (k_h3 + h_tr_em)
    k_denom = k_cdt + k_hsum
    k_sden = h_tr_ms + h_tr_w + k_h1
    # sensitivity of the step to 1 W of system heat into the air node
    k_dm = k_h3 * k_h1 / (h_ve * k_h2) / k_denom
    k_ds = (h_tr_ms * 0.5 * k_dm + k_h1 / h_ve) / k_sden
    k_g = (h_tr_is * k_ds + 1.0) / (h_tr_is + h_ve)
    for t in range(n_steps):
        te = outdoor[t]
        for n in range(n_homes):
            p = profile[n]
            # gains, W
            phi_int = gains[t, p] * gain_scale[n] + tank_loss[n]
            if extra_gains.shape[0] > 0:
                phi_int += extra_gains[t, n]
            phi_sol = 0.0
            for f in range(4):
                phi_sol += solar_area[n, f] * poa[t, f]
            phi_ia = 0.5 * phi_int
            shared = 0.5 * phi_int + phi_sol
            phi_m = m_share[n] * shared
            phi_st = s_share[n] * shared
            hve = h_ve[n]
            h1 = k_h1[n]
            h2 = k_h2[n]
            h3 = k_h3[n]
            cdt = k_cdt[n]
            hsum = k_hsum[n]
            denom = k_denom[n]
            # free-floating step (phi = 0)
            phi_mtot = (
                phi_m
                + h_tr_em[n] * te
                + h3 * (phi_st + h_tr_w[n] * te + h1 * (phi_ia / hve + te)) / h2
            )
            m_new0 = (theta_m[n] * (cdt - hsum) + phi_mtot) / denom
            m_mean0 = 0.5 * (m_new0 + theta_m[n])
            s_den = h_tr_ms[n] + h_tr_w[n] + h1
            s0 = (h_tr_ms[n] * m_mean0 + phi_st + h_tr_w[n] * te + h1 * (te + phi_ia / hve)) / s_den
            air0 = (h_tr_is[n] * s0 + hve * te + phi_ia) / (h_tr_is[n] + hve)
            s_den = k_sden[n]
            dm = k_dm[n]
            g = k_g[n]
            # capacity now
            u = 1.0
            if modulation.shape[0] > 0:
                u = modulation[t, n]
            allowed = True
            if device_on.shape[0] > 0:
                allowed = device_on[t, n] > 0.5
            code = sys_code[n]
            hp_cap = 0.0
            if code == 2:
                hp_cap = heat_pump_capacity(heat_cap[n], te, cap_slope[n])
                cap_h = (hp_cap + backup_w[n]) * u
            elif code == 0:
                cap_h = 0.0
            else:
                cap_h = heat_cap[n] * u
            cap_c = cool_cap[n] * u
            if not allowed:
                cap_h = 0.0
                cap_c = 0.0
            # the system's heat
            if heat_given.shape[0] > 0:
                phi = heat_given[t, n]
            else:
                hsp = heat_sp[t, p]
                csp = cool_sp[t, p]
                if sp_offset.shape[0] > 0:
                    hsp += sp_offset[t, n]
                    csp += sp_offset[t, n]
                half = 0.5 * deadband[n]
                phi = 0.0
                if air0 < hsp - half and cap_h > 0:
                    phi = (hsp - half - air0) / g
                    if phi > cap_h:
                        phi = cap_h
                elif air0 > csp + half and cap_c > 0:
                    phi = (csp + half - air0) / g
                    if phi < -cap_c:
                        phi = -cap_c
            # the step with that heat
            m_new = m_new0 + dm * phi
            air = air0 + g * phi
            if keep_nodes:
                m_mean = 0.5 * (m_new + theta_m[n])
                out_m[t, n] = m_mean
                out_s[t, n] = (
                    h_tr_ms[n] * m_mean + phi_st + h_tr_w[n] * te + h1 * (te + (phi_ia + phi) / hve)
                ) / s_den
            if observed.shape[0] > 0 and not np.isnan(observed[t, n]):
                # observer: pull the mass towards the state that explains the measured air
                # (out_air keeps the prediction made before seeing it: a one-step forecast)
                sens = 0.5 * h_tr_ms[n] * h_tr_is[n] / (s_den * (h_tr_is[n] + hve))
                m_new += obs_gain * (observed[t, n] - air) / sens
            theta_m[n] = m_new
            if out_mend.shape[0] > 0:
                out_mend[t, n] = m_new
            air_prev[n] = air
            out_air[t, n] = air
            out_heat[t, n] = phi
            # electricity and fuel of the space heating/cooling
            elec = 0.0
            fuel = 0.0
            if phi > 0:
                if code == 1:
                    plr = phi / heat_cap[n] if heat_cap[n] > 0 else 1.0
                    # an on/off boiler cycles below full load: all of its part load is cycling
                    # (and fires at full rate, at its full-load efficiency)
                    if on_off[n] > 0:
                        eff = boiler_efficiency(plr, eta_full[n], eta_full[n], 1.0, cyc_loss[n])
                    else:
                        eff = boiler_efficiency(
                            plr, eta_full[n], eta_low[n], plr_min[n], cyc_loss[n]
                        )
                    fuel = phi / eff
                elif code == 2:
                    sup = supply_temperature(te, sup_design[n], sup_min[n], out_design[n])
                    from_hp = phi if phi < hp_cap * u else hp_cap * u
                    elec = from_hp / heat_pump_cop(te, sup, carnot[n]) + (phi - from_hp)
                else:
                    elec = phi
                elec += aux_w[n]
            elif phi < 0:
                elec = -phi / cooling_eer(te, chilled_c[n], carnot[n]) + aux_w[n]
            # hot-water tank: draws, standing losses to the room, heater with hysteresis
            dhw_heat = 0.0
            if dhw_code[n] > 0:
                vol = dhw_vol[n]
                cap_j = vol * WATER_J_PER_L_K
                litres = draws[t, p] * draw_scale[n]
                if litres > vol:
                    litres = vol
                tank[n] -= litres / vol * (tank[n] - dhw_cold[n])
                loss_w = dhw_ua[n] * (tank[n] - air)
                tank[n] -= loss_w * dt / cap_j
                tank_loss[n] = loss_w
                if tank[n] < dhw_set[n] - dhw_hyst[n]:
                    dhw_on[n] = 1
                if dhw_on[n] == 1:
                    need_j = cap_j * (dhw_set[n] - tank[n])
                    q_j = dhw_w[n] * dt
                    if q_j >= need_j:
                        q_j = need_j if need_j > 0 else 0.0
                        dhw_on[n] = 0
                    tank[n] += q_j / cap_j
                    dhw_heat = q_j / dt
                    if dhw_code[n] == 1:
                        elec += dhw_heat
                    elif dhw_code[n] == 2:
                        elec += dhw_heat / heat_pump_cop(te, tank[n] + 5.0, carnot[n])
                    else:
                        fuel += dhw_heat / eta_full[n]
            out_elec[t, n] = elec
            out_fuel[t, n] = fuel
            out_dhw[t, n] = dhw_heat
    return theta_m, tank


def steady_mass_temperature(
    arrays: NetworkArrays, indoor_c: np.ndarray | float, outdoor_c: np.ndarray | float
) -> np.ndarray:
    """Mass temperature in steady state with the air held at ``indoor_c`` and no gains: a start
    state that spares the first days a warm-up."""
    h_op = 1.0 / (1.0 / arrays.h_tr_ms + 1.0 / arrays.h_tr_em)
    surf = (arrays.h_tr_is * indoor_c + (arrays.h_tr_w + h_op) * outdoor_c) / (
        arrays.h_tr_is + arrays.h_tr_w + h_op
    )
    return np.asarray(
        (arrays.h_tr_ms * surf + arrays.h_tr_em * outdoor_c) / (arrays.h_tr_ms + arrays.h_tr_em),
        dtype=np.float64,
    )
