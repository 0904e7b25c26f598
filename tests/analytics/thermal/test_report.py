"""The twin's HTML report (analytics/thermal/report.py): one self-contained file (inline SVG,
nothing fetched, no script) with the home, its fit, measured against simulated series and the
scenarios side by side, legible for a week or a year."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET

from analytics.thermal.report import MAX_POINTS, choose_bucket, render_report, write_report
from analytics.thermal.results import Series
from tests.analytics.thermal.test_store import record, series


def _svgs(page: str) -> list[ET.Element]:
    """Every inline SVG of the page, parsed as XML (so each is well-formed)."""
    return [ET.fromstring(m) for m in re.findall(r"<svg.*?</svg>", page, flags=re.S)]


def test_the_report_is_one_self_contained_file_with_everything(tmp_path):
    rec = dataclasses.replace(
        record(n=7 * 96, names=("as-is", "heat-pump", "setpoint-1")),
        home_id="Building <3> & co",
    )
    path = write_report(rec, tmp_path / "reports" / "home.html")
    assert path == tmp_path / "reports" / "home.html"
    page = path.read_text(encoding="utf-8")
    # nothing to fetch, nothing to run
    low = page.lower()
    for needle in ("http:", "https:", "<script", " src=", "url(", "@import", "<link", "//cdn"):
        assert needle not in low, needle
    # the home (escaped), the fit in words, the parameters
    assert "Thermal twin of Building &lt;3&gt; &amp; co" in page and "<3>" not in page
    assert "within 0.42 °C RMSE of the measured" in page and "within 8 % (WAPE)" in page
    assert re.search(r"<th scope=\"row\">hlc_w_per_k</th><td>180</td>", page)
    assert "<th scope=\"row\">system.kind</th><td>boiler</td>" in page
    assert "24 values, all 21" in page  # a schedule, summarised
    # measured against simulated: two time charts (titled), one bar chart of the scenarios
    svgs = _svgs(page)
    assert [s.get("aria-label") for s in svgs] == [
        "Indoor temperature, measured against simulated",
        "Heating/cooling energy, measured against simulated",
        "Energy per scenario",
    ]
    temp = ET.tostring(svgs[0], encoding="unicode")
    for legend in ("measured", "simulated", "setpoint", "outdoor"):
        assert f">{legend}<" in temp
    # a week is drawn hourly (the measured step), not coarser
    assert "kWh per hour" in page
    # the scenarios side by side, with the difference from as-is
    table = re.search(r"<table class=\"scenarios\">.*?</table>", page, flags=re.S).group(0)
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th>(.*?)</tr>", table)
    assert [name for name, _ in rows] == ["as-is", "heat-pump", "setpoint-1"]
    heat_pump = re.findall(r"<td[^>]*>(.*?)</td>", rows[1][1])
    assert heat_pump[0] == "the home heat-pump"
    assert heat_pump[1:6] == ["1,233.5", "400.2", "0.0", "3.5", "20.40"]
    assert heat_pump[6:] == ["-1.0 (-0.1 %)", "+0.0 (+0.0 %)", "+3.5"]


def test_a_year_at_15_minutes_is_drawn_per_day_in_a_small_file(tmp_path):
    rec = record(n=365 * 96, names=("as-is", "insulation"))
    assert choose_bucket(365 * 86_400, 900) == 86_400
    path = write_report(rec, tmp_path)  # a folder: the file is named after the home
    assert path == tmp_path / "twin-citylearn-2023-Building_1.html"
    page = path.read_text(encoding="utf-8")
    assert len(page) < 150_000
    assert "kWh per day" in page and "Indoor temperature per day" in page
    for svg in _svgs(page)[:2]:
        for p in svg.iter("path"):
            assert p.get("d").count("L") < MAX_POINTS


def test_gaps_break_the_lines_and_missing_parts_are_said(tmp_path):
    measured = series(48, step_s=3600, extra=False)
    indoor = list(measured.indoor_c)
    indoor[10:14] = [None] * 4
    rec = dataclasses.replace(record(n=2 * 96), measured=dataclasses.replace(
        measured, indoor_c=indoor, heat_wh=[None] * 48))
    svgs = _svgs(render_report(rec))
    measured_path = [p for p in svgs[0].iter("path") if p.get("stroke") == "#222222"]
    assert measured_path[0].get("d").count("M") == 4  # gaps at 3, 10-13, 24
    # no measured heat at all: the energy chart draws the simulation only
    assert "measured heat" not in ET.tostring(svgs[1], encoding="unicode")

    bare = dataclasses.replace(rec, measured=None, fit={}, scenarios=[])
    page = render_report(bare)
    assert "not calibrated on measurements" in page
    assert "The twin simulated no scenario." in page
    assert "Energy per scenario: no values." in page

    only_sim = dataclasses.replace(rec, measured=None)
    page = render_report(only_sim)
    assert "Nothing was measured for this home" in page
    assert len(_svgs(page)) == 3


def test_a_record_from_json_gives_the_same_report():
    rec = record(n=96)
    again = type(rec).from_json(rec.to_json())
    assert render_report(again) == render_report(rec)
    assert isinstance(again.scenarios[0].series, Series)
