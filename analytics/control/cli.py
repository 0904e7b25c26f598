"""``bright control``: compare control policies on the homes' twins, train the learned policy,
estimate each home's flexibility.

Homes come from a CityLearn 2023 set (``--set``, its CSV files; the twins are calibrated on the
first 75 % of each home's data and the policies judged on the rest). Progress goes to stderr,
results (JSON) to stdout. ``--cost`` reads the user's cost function
(:mod:`analytics.control.costs`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="Demand-response control (RLCF): compare, evaluate, train, flexibility.",
    no_args_is_help=True,
)

DEFAULT_SET = "citylearn_challenge_2023_phase_2_online_evaluation_1"
POLICIES = ("bau", "rule", "mpc", "rl")

SetOpt = Annotated[str, typer.Option("--set", help="CityLearn 2023 set of homes.")]
DaysOpt = Annotated[int, typer.Option(min=1, max=60, help="Held-out days to run.")]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        help="A home's own data (CSV: time, outdoor_c, direct_w_m2, diffuse_w_m2, base_load_w, "
        "price_per_kwh; optional pv_w, carbon_kg_per_kwh, heat_setpoint_c, cool_setpoint_c, "
        "hvac_on) instead of --set; the last 25 % is held out."
    ),
]
TwinOpt = Annotated[
    Path | None, typer.Option(help="The home's twin file (`bright twin calibrate`), with --data.")
]
BatteryKwhOpt = Annotated[
    float, typer.Option(min=0, max=1000, help="The home's battery, kWh (with --data).")
]
BatteryKwOpt = Annotated[
    float, typer.Option(min=0, max=1000, help="The battery's power, kW (with --data).")
]
ComfortOpt = Annotated[
    str, typer.Option(help="Comfort tolerance: comfort (1 K) or economy (2 K), with --data.")
]
CostOpt = Annotated[
    Path | None, typer.Option(help="Cost function JSON (weights: cost, emissions, peak, ...).")
]

STORE_COMPARISON: Callable[[str, int, dict[str, Any], dict[str, Any]], None] | None = None
"""Stores a home's comparison in the read models: ``(account, chain_id, report, series)``; set by
the application (``bright/cli.py``), which owns the database (the analytics layer does not open
it)."""


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _emit(payload: object) -> None:
    typer.echo(json.dumps(payload, default=str))


def _cost(path: Path | None):  # type: ignore[no-untyped-def]
    from analytics.control.costs import CostFunction

    return CostFunction.load(path) if path is not None else CostFunction()


def _policy(name: str, cost: Any, model: Path | None = None) -> Any:
    from analytics.control.errors import ControlConfigError
    from analytics.control.policies import BauPolicy, MpcPolicy, RulePolicy

    if name == "bau":
        return BauPolicy()
    if name == "rule":
        return RulePolicy()
    if name == "mpc":
        return MpcPolicy(cost)
    if name == "rl":
        from analytics.control.rl import RlPolicy

        return RlPolicy(model) if model is not None else RlPolicy()
    raise ControlConfigError(f"unknown policy {name!r}; one of {', '.join(POLICIES)}")


def _community(  # type: ignore[no-untyped-def]
    set_name: str,
    homes: list[str] | None = None,
    own: OwnHome | None = None,
):
    """The homes: a CityLearn 2023 set (twins calibrated here), or one's own home (``own``:
    its data and its twin file); returns it and the first held-out step."""
    if own is not None and own.data is not None:
        return own.community()
    from analytics.control.homes import citylearn_community

    _progress(f"{set_name}: calibrating the twins ...")
    return citylearn_community(set_name, homes, progress=_progress)


class OwnHome:
    """``--data`` / ``--twin`` / ``--battery-kwh`` / ``--battery-kw``: a home's own data."""

    def __init__(
        self,
        data: Path | None,
        twin: Path | None,
        battery_kwh: float,
        battery_kw: float,
        comfort_mode: str,
    ) -> None:
        self.data, self.twin = data, twin
        self.battery_kwh, self.battery_kw = battery_kwh, battery_kw
        self.comfort_mode = comfort_mode

    def community(self):  # type: ignore[no-untyped-def]
        from analytics.control.errors import ControlConfigError
        from analytics.control.homes import Battery, frame_community, read_home_csv
        from analytics.thermal.service import read_twin_file
        from analytics.thermal.twin import TwinConfig

        if self.data is None or self.twin is None:
            raise ControlConfigError("a home's own data needs --data FILE.csv and --twin FILE")
        config = TwinConfig.from_json(read_twin_file(self.twin)["config"])
        battery = (
            Battery(self.battery_kwh * 1000, self.battery_kw * 1000)
            if self.battery_kwh > 0 and self.battery_kw > 0
            else None
        )
        _progress(f"{self.data}: reading the home's data ...")
        community = frame_community(
            read_home_csv(self.data),
            config,
            name=self.data.stem,
            battery=battery,
            comfort_mode=self.comfort_mode,
        )
        return community, round(community.n_steps * 0.75)


def _home_index(community: Any, home: str | None) -> int:
    from analytics.control.errors import ControlConfigError

    if home is None:
        return 0
    for n, name in enumerate(community.names):
        if name.endswith("/" + home):
            return n
    known = ", ".join(n.split("/")[-1] for n in community.names)
    raise ControlConfigError(f"no home {home!r} in the set; it has {known}")


@app.command()
def compare(
    set_name: SetOpt = DEFAULT_SET,
    days: DaysOpt = 7,
    cost: CostOpt = None,
    policies: Annotated[
        str, typer.Option(help="Comma-separated: bau,rule,mpc,rl.")
    ] = "bau,rule,mpc,rl",
    home: Annotated[
        str | None, typer.Option(help="Home whose series to keep (Building_N).")
    ] = None,
    account: Annotated[
        str | None, typer.Option(help="Store the home's comparison for this member (0x address).")
    ] = None,
    chain_id: Annotated[int, typer.Option(help="Chain id of the member (with --account).")] = 31337,
    model: Annotated[Path | None, typer.Option(help="RL model (default: the shipped one).")] = None,
    data: DataOpt = None,
    twin: TwinOpt = None,
    battery_kwh: BatteryKwhOpt = 0.0,
    battery_kw: BatteryKwOpt = 0.0,
    comfort_mode: ComfortOpt = "comfort",
) -> None:
    """Run the policies from the same state over the held-out days; ratios to business as usual."""
    from analytics.control.errors import ControlConfigError
    from analytics.control.evaluate import compare as run_compare
    from analytics.control.evaluate import home_series

    names = [p.strip() for p in policies.split(",") if p.strip()]
    cf = _cost(cost)
    chosen = [_policy(p, cf, model) for p in names]
    if "bau" not in names:
        chosen.insert(0, _policy("bau", cf))
    if account is not None and (home is None or STORE_COMPARISON is None):
        raise ControlConfigError(
            "--account needs --home (the member's home) and the read models: run this as "
            "`bright control compare --home Building_N --account 0x...`"
        )
    # a stored comparison is of the member's home alone
    own = OwnHome(data, twin, battery_kwh, battery_kw, comfort_mode)
    community, test0 = _community(set_name, [home] if home and account else None, own)
    stop = min(test0 + days * 96, community.n_steps)
    report, runs = run_compare(community, chosen, test0, stop, cf, progress=_progress)
    if account is not None and STORE_COMPARISON is not None:
        STORE_COMPARISON(account, chain_id, report, home_series(runs, 0, every=4))
        _progress(f"stored the comparison of {account} in the read models")
    elif home is not None:
        report["series"] = home_series(runs, _home_index(community, home), every=4)
    _emit(report)


@app.command()
def evaluate(
    policy: Annotated[str, typer.Option(help="bau, rule, mpc or rl.")] = "mpc",
    set_name: SetOpt = DEFAULT_SET,
    days: DaysOpt = 7,
    cost: CostOpt = None,
    model: Annotated[Path | None, typer.Option(help="RL model (default: the shipped one).")] = None,
    data: DataOpt = None,
    twin: TwinOpt = None,
    battery_kwh: BatteryKwhOpt = 0.0,
    battery_kw: BatteryKwOpt = 0.0,
    comfort_mode: ComfortOpt = "comfort",
) -> None:
    """One policy over the held-out days: totals per home."""
    from analytics.control.evaluate import KPIS, run_policy

    cf = _cost(cost)
    community, test0 = _community(
        set_name, own=OwnHome(data, twin, battery_kwh, battery_kw, comfort_mode)
    )
    stop = min(test0 + days * 96, community.n_steps)
    run = run_policy(
        community,
        _policy(policy, cf, model),
        test0,
        stop,
        cf,
        progress=lambda k, n: _progress(f"  {k}/{n} steps"),
    )
    _emit(
        {
            "policy": run.policy,
            "decision_ms": round(run.decision_ms, 3),
            "homes": {
                name: {k: round(float(run.totals[k][i]), 4) for k in KPIS}
                for i, name in enumerate(run.names)
            },
        }
    )


@app.command()
def train(
    set_name: SetOpt = DEFAULT_SET,
    phases: Annotated[int, typer.Option(min=1, max=1000, help="Training phases.")] = 4,
    steps: Annotated[int, typer.Option(min=100, help="Environment steps per phase.")] = 5000,
    checkpoint: Annotated[Path, typer.Option(help="Checkpoint folder.")] = Path("rl-checkpoints"),
    warm_start: Annotated[
        bool, typer.Option(help="Start from the shipped pretrained policy.")
    ] = True,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint.")] = True,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    cost: CostOpt = None,
    data: DataOpt = None,
    twin: TwinOpt = None,
    battery_kwh: BatteryKwhOpt = 0.0,
    battery_kw: BatteryKwOpt = 0.0,
    comfort_mode: ComfortOpt = "comfort",
) -> None:
    """Train the learned policy on the homes' training period (checkpoint after each phase)."""
    from analytics.control import rl

    community, test0 = _community(
        set_name, own=OwnHome(data, twin, battery_kwh, battery_kw, comfort_mode)
    )
    result = rl.train(
        community,
        stop=test0,
        phases=phases,
        steps_per_phase=steps,
        checkpoint_dir=checkpoint,
        warm_start=warm_start,
        resume=resume,
        seed=seed,
        cost=_cost(cost),
        progress=_progress,
    )
    _emit(result.to_json())


@app.command("flex")
def flex_cmd(
    set_name: SetOpt = DEFAULT_SET,
    home: Annotated[
        str | None, typer.Option(help="Home (Building_N); default: every home.")
    ] = None,
    hours: Annotated[int, typer.Option(min=1, max=168, help="Hours from the held-out start.")] = 24,
    data: DataOpt = None,
    twin: TwinOpt = None,
    battery_kwh: BatteryKwhOpt = 0.0,
    battery_kw: BatteryKwOpt = 0.0,
    comfort_mode: ComfortOpt = "comfort",
) -> None:
    """Each interval's flexibility (Wh up and down, and the rebound) from the twin."""
    from analytics.control.flex import profile

    community, test0 = _community(
        set_name, own=OwnHome(data, twin, battery_kwh, battery_kw, comfort_mode)
    )
    p = profile(community, test0, hours * 4)
    homes = range(community.n_homes) if home is None else [_home_index(community, home)]
    _emit({community.names[n]: p.home(n) for n in homes})
