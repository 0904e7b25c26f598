"""A home's twin as one self-contained HTML file (SLC-9): ``write_report(record, path)``.

The page holds the home, the twin's parameters and calibration fit, measured against simulated
indoor temperature and heating/cooling energy over time, and the what-if scenarios side by side
(a table, with each one's difference from ``as-is``, and a bar chart of their energy). Charts
are inline SVG drawn here: no script, no stylesheet or font from elsewhere, nothing to fetch,
so the file opens anywhere and can be mailed or archived as it is.

A long series is drawn at a coarser step so that a chart holds at most :data:`MAX_POINTS`
points: temperatures as the mean of each step, energies as its total (a gap in a step is filled
by the mean of the values around it in that step, so a gap does not read as a dip); the chart's
caption says which step it shows.
"""

from __future__ import annotations

import html
import json
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analytics.thermal.results import ScenarioResult, Series, TwinRecord

MAX_POINTS = 500
"""Most points of one line in a chart."""
BUCKETS_S = (900, 3600, 3 * 3600, 6 * 3600, 86_400, 7 * 86_400)
BUCKET_WORDS = {900: "15 minutes", 3600: "hour", 3 * 3600: "3 hours", 6 * 3600: "6 hours",
                86_400: "day", 7 * 86_400: "week"}
AS_IS = "as-is"

W, H = 920, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40

COLOURS = {
    "measured": "#222222",
    "simulated": "#1f4e79",
    "setpoint": "#7f8c8d",
    "outdoor": "#a9cce3",
    "heat": "#b03a2e",
    "electricity": "#1e8449",
    "fuel": "#b9770e",
}


# ---- data --------------------------------------------------------------------------------------


def _array(values: Sequence[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def _times(s: Series) -> np.ndarray:
    return s.start_s + s.step_s * np.arange(len(s.indoor_c), dtype=np.int64)


def choose_bucket(span_s: int, step_s: int) -> int:
    """The finest of :data:`BUCKETS_S` (not finer than ``step_s``) that draws ``span_s`` in at
    most :data:`MAX_POINTS` points."""
    for bucket in BUCKETS_S:
        if bucket >= step_s and span_s / bucket <= MAX_POINTS:
            return bucket
    return BUCKETS_S[-1]


def resample(s: Series, column: str, bucket_s: int, how: str) -> tuple[np.ndarray, np.ndarray]:
    """``column`` of ``s`` per ``bucket_s`` (aligned to UTC): ``how`` is ``"mean"`` (a
    temperature) or ``"sum"`` (an energy: the mean of the values present times the intervals in
    the bucket). Times of the buckets' starts (unix s) and their values (NaN: none present)."""
    values = _array(getattr(s, column))
    times = _times(s)
    if bucket_s <= s.step_s:
        return times, values
    index = (times // bucket_s) - times[0] // bucket_s
    present = ~np.isnan(values)
    count = np.bincount(index[present], minlength=index[-1] + 1).astype(float)
    total = np.bincount(index[present], weights=values[present], minlength=index[-1] + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    out = mean if how == "mean" else mean * (bucket_s // s.step_s)
    starts = (times[0] // bucket_s + np.arange(len(out))) * bucket_s
    return starts, out


# ---- SVG ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    label: str
    times: np.ndarray
    values: np.ndarray
    colour: str
    dash: str = ""
    width: float = 1.6


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not math.isfinite(lo) or not math.isfinite(hi):
        return []
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _fmt(v: float | None, digits: int = 1) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    return f"{v:,.{digits}f}"


def _date(t: float, with_year: bool) -> str:
    return time.strftime("%d %b %Y" if with_year else "%d %b", time.gmtime(t))


def svg_time_chart(
    title: str, lines: Sequence[Line], unit: str, include_zero: bool = False
) -> str:
    """An inline SVG line chart of ``lines`` over time (UTC dates on the x axis), with its
    title (for screen readers) and a legend; a gap (NaN) breaks a line. ``include_zero``: the
    value axis reaches 0 (energies)."""
    drawn = [ln for ln in lines if ln.values.size and np.isfinite(ln.values).any()]
    label = html.escape(title)
    if not drawn:
        return f'<p class="empty">{label}: no values.</p>'
    t0 = min(int(ln.times[0]) for ln in drawn)
    t1 = max(int(ln.times[-1]) for ln in drawn)
    t1 = max(t1, t0 + 1)
    v_lo = min(float(np.nanmin(ln.values)) for ln in drawn)
    v_hi = max(float(np.nanmax(ln.values)) for ln in drawn)
    if include_zero:
        v_lo, v_hi = min(v_lo, 0.0), max(v_hi, 0.0)
    pad = (v_hi - v_lo) * 0.05 or 1.0
    v_lo = v_lo - pad if v_lo < 0 or not include_zero else 0.0
    v_hi = v_hi + pad
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return TOP + (v_hi - v) / (v_hi - v_lo) * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H + 24 * ((len(drawn) + 3) // 4)}" role="img" '
        f'aria-label="{label}" width="100%">',
        f"<title>{label}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" '
        'stroke="#ccc"/>',
    ]
    for v in _nice_ticks(v_lo, v_hi):
        yy = y(v)
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" '
                     'stroke="#eee"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end">'
                     f"{_fmt(v, 0 if abs(v_hi - v_lo) > 20 else 1)}</text>")
    parts.append(f'<text x="14" y="{TOP + plot_h / 2:.0f}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {TOP + plot_h / 2:.0f})">{html.escape(unit)}</text>')
    day = 86_400
    span_days = (t1 - t0) / day
    every = next((d for d in (1, 2, 7, 14, 30, 61, 91) if span_days / d <= 8), 182)
    with_year = time.gmtime(t0).tm_year != time.gmtime(t1).tm_year
    tick = math.ceil(t0 / day) * day
    while tick <= t1:
        xx = x(tick)
        parts.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
                     'stroke="#f0f0f0"/>')
        parts.append(f'<text x="{xx:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">'
                     f"{_date(tick, with_year)}</text>")
        tick += every * day
    for ln in drawn:
        d = []
        pen_up = True
        for t, v in zip(ln.times.tolist(), ln.values.tolist(), strict=True):
            if not math.isfinite(v):
                pen_up = True
                continue
            d.append(f"{'M' if pen_up else 'L'}{x(t):.1f} {y(v):.1f}")
            pen_up = False
        dash = f' stroke-dasharray="{ln.dash}"' if ln.dash else ""
        parts.append(f'<path d="{" ".join(d)}" fill="none" stroke="{ln.colour}" '
                     f'stroke-width="{ln.width}"{dash}/>')
    for i, ln in enumerate(drawn):
        lx = LEFT + (i % 4) * 210
        ly = H + 24 * (i // 4) + 4
        dash = f' stroke-dasharray="{ln.dash}"' if ln.dash else ""
        parts.append(f'<line x1="{lx}" x2="{lx + 24}" y1="{ly}" y2="{ly}" stroke="{ln.colour}" '
                     f'stroke-width="3"{dash}/>')
        parts.append(f'<text x="{lx + 30}" y="{ly + 4}">{html.escape(ln.label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def svg_bar_chart(title: str, groups: Sequence[str], bars: Mapping[str, Sequence[float | None]],
                  unit: str) -> str:
    """Horizontal bars, one group per scenario, one bar per quantity (``bars``: label ->
    one value per group)."""
    label = html.escape(title)
    values = [v for vs in bars.values() for v in vs if v is not None and math.isfinite(v)]
    if not groups or not values:
        return f'<p class="empty">{label}: no values.</p>'
    hi = max(max(values), 0.0) or 1.0
    lo = min(min(values), 0.0)
    bar_h, gap = 14, 10
    group_h = bar_h * len(bars) + gap
    height = TOP + group_h * len(groups) + 40
    left, plot_w = 180, W - 180 - 90

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot_w

    parts = [f'<svg class="chart" viewBox="0 0 {W} {height}" role="img" aria-label="{label}" '
             'width="100%">', f"<title>{label}</title>"]
    colours = [COLOURS["heat"], COLOURS["electricity"], COLOURS["fuel"], COLOURS["simulated"]]
    for g, name in enumerate(groups):
        gy = TOP + g * group_h
        parts.append(f'<text x="{left - 8}" y="{gy + group_h / 2:.0f}" text-anchor="end">'
                     f"{html.escape(name)}</text>")
        for b, (bar_label, vs) in enumerate(bars.items()):
            v = vs[g]
            if v is None or not math.isfinite(v):
                continue
            x0, x1 = sorted((x(0.0), x(v)))
            by = gy + b * bar_h
            parts.append(f'<rect x="{x0:.1f}" y="{by}" width="{max(x1 - x0, 1):.1f}" '
                         f'height="{bar_h - 2}" fill="{colours[b % len(colours)]}">'
                         f"<title>{html.escape(name)}: {html.escape(bar_label)} "
                         f"{_fmt(v)} {html.escape(unit)}</title></rect>")
            parts.append(f'<text x="{x1 + 4:.1f}" y="{by + bar_h - 3}">{_fmt(v)}</text>')
    ly = height - 16
    for b, bar_label in enumerate(bars):
        lx = left + b * 200
        parts.append(f'<rect x="{lx}" y="{ly - 9}" width="18" height="10" '
                     f'fill="{colours[b % len(colours)]}"/>')
        parts.append(f'<text x="{lx + 24}" y="{ly}">{html.escape(bar_label)} '
                     f"({html.escape(unit)})</text>")
    parts.append("</svg>")
    return "\n".join(parts)


# ---- tables ------------------------------------------------------------------------------------


def _flatten(value: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, value


def _shown(value: Any) -> str:
    """A parameter's value for a person: numbers to 4 significant digits, a list of numbers
    as its count and range."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return "–" if not math.isfinite(value) else f"{value:.4g}"
    if isinstance(value, list | tuple):
        numbers = [v for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
        if value and len(numbers) == len(value):
            if min(numbers) == max(numbers):
                return f"{len(value)} values, all {_shown(numbers[0])}"
            return f"{len(value)} values, {_shown(min(numbers))} to {_shown(max(numbers))}"
        text = json.dumps(value)
        return text if len(text) <= 80 else text[:77] + "..."
    return str(value)


def _key_table(caption: str, mapping: Mapping[str, Any], limit: int = 80) -> str:
    rows = list(_flatten(mapping))
    if not rows:
        return f"<p>{html.escape(caption)}: none.</p>"
    more = len(rows) - limit
    body = "".join(
        f"<tr><th scope=\"row\">{html.escape(k)}</th><td>{html.escape(_shown(v))}</td></tr>"
        for k, v in rows[:limit]
    )
    note = f"<p class=\"small\">and {more} more.</p>" if more > 0 else ""
    return (f"<table class=\"keys\"><caption>{html.escape(caption)}</caption>"
            f"<thead><tr><th scope=\"col\">name</th><th scope=\"col\">value</th></tr></thead>"
            f"<tbody>{body}</tbody></table>{note}")


def _total(sc: ScenarioResult, key: str) -> float | None:
    v = sc.totals.get(key)
    return None if v is None or not math.isfinite(float(v)) else float(v)


def _diff(v: float | None, base: float | None, digits: int = 1) -> str:
    if v is None or base is None:
        return "–"
    d = v - base
    pct = ""
    if base and abs(base) > 1e-9:
        share = d / base * 100
        pct = f" ({share:+.0f} %)" if abs(share) >= 9.5 else f" ({share:+.1f} %)"
    return f"{d:+,.{digits}f}{pct}"


SCENARIO_COLUMNS = (
    ("heat_kwh", "heat (kWh)"),
    ("electricity_kwh", "electricity (kWh)"),
    ("fuel_kwh", "fuel (kWh)"),
    ("comfort_kh", "discomfort (K·h)"),
    ("mean_indoor_c", "mean indoor (°C)"),
)


def scenario_table(record: TwinRecord) -> str:
    """The scenarios side by side: totals, and each one's difference from ``as-is``."""
    if not record.scenarios:
        return "<p>The twin simulated no scenario.</p>"
    base = next((s for s in record.scenarios if s.name == AS_IS), None)
    heads = "".join(f"<th scope=\"col\">{html.escape(h)}</th>" for _, h in SCENARIO_COLUMNS)
    rows = []
    for sc in record.scenarios:
        cells = "".join(
            f"<td class=\"num\">{_fmt(_total(sc, k), 2 if k == 'mean_indoor_c' else 1)}</td>"
            for k, _ in SCENARIO_COLUMNS
        )
        if base is None or sc is base:
            vs = "<td>–</td><td>–</td><td>–</td>"
        else:
            vs = "".join(
                f"<td class=\"num\">{_diff(_total(sc, k), _total(base, k))}</td>"
                for k in ("heat_kwh", "electricity_kwh", "comfort_kh")
            )
        rows.append(f"<tr><th scope=\"row\">{html.escape(sc.name)}</th>"
                    f"<td>{html.escape(sc.description)}</td>{cells}{vs}</tr>")
    return (
        "<table class=\"scenarios\"><caption>What-if scenarios (totals over the simulated "
        "period)</caption><thead><tr><th scope=\"col\">scenario</th>"
        f"<th scope=\"col\">what changes</th>{heads}"
        "<th scope=\"col\">heat vs as-is</th><th scope=\"col\">electricity vs as-is</th>"
        "<th scope=\"col\">discomfort vs as-is</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def fit_sentence(fit: Mapping[str, Any]) -> str:
    """The calibration in one sentence ("Simulated indoor temperature within 0.42 °C RMSE
    ...")."""
    if not fit:
        return "The twin was not calibrated on measurements: its parameters are assumed."
    parts = []
    if isinstance(fit.get("rmse_c"), int | float):
        parts.append(f"simulated indoor temperature within {fit['rmse_c']:.2f} °C RMSE of the "
                     "measured")
    if isinstance(fit.get("mae_c"), int | float):
        parts.append(f"mean absolute error {fit['mae_c']:.2f} °C")
    if isinstance(fit.get("energy_wape"), int | float):
        parts.append(f"heating/cooling energy within {fit['energy_wape'] * 100:.0f} % (WAPE)")
    if not parts:
        return "Calibrated on measurements (see the fit report below)."
    text = ", ".join(parts)
    return text[0].upper() + text[1:] + "."


# ---- the page ----------------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1000px;margin:1em auto;
padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
caption{text-align:left;font-weight:600;padding:.3em 0}
th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.cols{display:flex;gap:2em;flex-wrap:wrap}.cols>div{flex:1 1 380px}
svg.chart text{font-size:11px;fill:#333}
figure{margin:1em 0}figcaption{font-size:.9em;color:#555}
.lead{font-size:1.1em}.small{font-size:.85em;color:#555}
"""


def _chart_lines(record: TwinRecord) -> tuple[str, str, str]:
    """The temperature and energy charts of measured against ``as-is`` and the words for
    their step."""
    base = next((s for s in record.scenarios if s.name == AS_IS),
                record.scenarios[0] if record.scenarios else None)
    shown = [s for s in (record.measured, base.series if base else None) if s is not None]
    if not shown:
        return "", "", ""
    t0 = min(s.start_s for s in shown)
    t1 = max(s.start_s + s.step_s * len(s.indoor_c) for s in shown)
    bucket = choose_bucket(t1 - t0, min(s.step_s for s in shown))
    temp: list[Line] = []
    energy: list[Line] = []
    sim_name = "simulated" if base is None or base.name == AS_IS else f"simulated ({base.name})"
    if base is not None:
        s = base.series
        if s.outdoor_c:
            temp.append(Line("outdoor", *resample(s, "outdoor_c", bucket, "mean"),
                             COLOURS["outdoor"], width=1.0))
        if s.setpoint_c:
            temp.append(Line("setpoint", *resample(s, "setpoint_c", bucket, "mean"),
                             COLOURS["setpoint"], dash="4 3", width=1.0))
    if record.measured is not None:
        m = record.measured
        temp.append(Line("measured", *resample(m, "indoor_c", bucket, "mean"),
                         COLOURS["measured"]))
        t, v = resample(m, "heat_wh", bucket, "sum")
        energy.append(Line("measured heat", t, v / 1000, COLOURS["measured"]))
    if base is not None:
        s = base.series
        temp.append(Line(sim_name, *resample(s, "indoor_c", bucket, "mean"),
                         COLOURS["simulated"]))
        t, v = resample(s, "heat_wh", bucket, "sum")
        energy.append(Line(f"{sim_name} heat", t, v / 1000, COLOURS["simulated"]))
        t, v = resample(s, "electricity_wh", bucket, "sum")
        energy.append(Line(f"{sim_name} electricity", t, v / 1000, COLOURS["electricity"],
                           dash="5 3"))
    step = BUCKET_WORDS.get(bucket, f"{bucket} s")
    return (
        svg_time_chart("Indoor temperature, measured against simulated", temp, "°C"),
        svg_time_chart("Heating/cooling energy, measured against simulated", energy,
                       f"kWh per {step}", include_zero=True),
        step,
    )


def render_report(record: TwinRecord) -> str:
    """The report's HTML (one string, self-contained)."""
    home = html.escape(record.home_id)
    made = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(record.created_s))
    temp_chart, energy_chart, step = _chart_lines(record)
    period = ""
    spans = [s.series for s in record.scenarios] + ([record.measured] if record.measured else [])
    if spans:
        t0 = min(s.start_s for s in spans)
        t1 = max(s.start_s + s.step_s * len(s.indoor_c) for s in spans)
        period = (f"{time.strftime('%Y-%m-%d', time.gmtime(t0))} to "
                  f"{time.strftime('%Y-%m-%d', time.gmtime(t1 - 1))} (UTC)")
    names = [sc.name for sc in record.scenarios]
    bars = {
        "heat": [_total(sc, "heat_kwh") for sc in record.scenarios],
        "electricity": [_total(sc, "electricity_kwh") for sc in record.scenarios],
    }
    if any(_total(sc, "fuel_kwh") for sc in record.scenarios):
        bars["fuel"] = [_total(sc, "fuel_kwh") for sc in record.scenarios]
    measured_note = (
        "Nothing was measured for this home: the charts show the simulation only."
        if record.measured is None
        else f"Measured at a step of {record.measured.step_s // 60} minutes."
    )
    charts = ""
    if temp_chart:
        charts = f"""<h2>Measured against simulated</h2>
<p>{html.escape(measured_note)} The charts show the mean temperature and the energy per
{html.escape(step)}; the simulation is the <code>as-is</code> scenario.</p>
<figure>{temp_chart}<figcaption>Indoor temperature per {html.escape(step)} (°C), with the
outdoor temperature and the setpoint the twin was given.</figcaption></figure>
<figure>{energy_chart}<figcaption>Heat delivered by the heating/cooling system (cooling
negative) and the electricity it used, kWh per {html.escape(step)}.</figcaption></figure>"""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Thermal twin of {home}</title><style>{STYLE}</style></head>
<body><main>
<h1>Thermal twin of {home}</h1>
<p class="lead">{html.escape(fit_sentence(record.fit))}</p>
<p class="small">Twin made {made}{"; simulated " + html.escape(period) if period else ""}.
{len(record.scenarios)} scenario(s): {html.escape(", ".join(names)) or "none"}.</p>
{charts}
<h2>What-if scenarios side by side</h2>
{scenario_table(record)}
<figure>{svg_bar_chart("Energy per scenario", names, bars, "kWh")}
<figcaption>Heat delivered and electricity used by each scenario over the simulated period
(kWh).</figcaption></figure>
<h2>The twin</h2>
<div class="cols"><div>{_key_table("Parameters", record.params)}</div>
<div>{_key_table("Calibration fit", record.fit)}</div></div>
<p class="small">Made by the BRIGHT thermal twin (analytics/thermal). Times in UTC.</p>
</main></body></html>
"""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "home"


def write_report(record: TwinRecord, path: str | Path) -> Path:
    """Write the report of ``record`` to ``path`` (a file; or an existing folder, where it is
    ``twin-<home id>.html``), its folder made if missing. Returns the file's path."""
    out = Path(path)
    if out.is_dir():
        out = out / f"twin-{_slug(record.home_id)}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(record), encoding="utf-8")
    return out
