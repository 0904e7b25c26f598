import { fireEvent, screen, within } from "@testing-library/react";
import { vi } from "vitest";
import type { ControlCommunity, ControlComparison, ControlStatus, ControlStep } from "../lib/api";
import { ME, renderIn, routesApi } from "../test-utils";
import ControlPage, { comfortText, controlCharts, costFunctionText, flexText, ratioText, stepsOutside } from "./Control";

// uPlot draws on a canvas jsdom does not have: the chart is checked by its title and data.
vi.mock("../components/Chart", () => ({
  TimeChart: ({ title, times, series }: { title: string; times: number[]; series: { label: string; values: (number | null)[] }[] }) => (
    <figure data-testid="chart">
      {title}: {times.length} points; {series.map((s) => `${s.label}=${s.values.slice(0, 2).join("/")}`).join("; ")}
    </figure>
  ),
}));

const T = 1_672_531_200; // 2023-01-01T00:00Z
const N = 4 * 24; // a day at 15 minutes (the series hourly: 24 values)

const kpis = (scale: number) => ({
  cost: 4.2 * scale,
  emissions_kg: 3.1 * scale,
  peak_kw: 2.5 * scale,
  violation_kh: 0.4 * scale,
  tracking_kwh: 1.5 * scale,
  import_kwh: 14 * scale,
});
const ratios = (r: number | null) => ({ cost: r, emissions_kg: r, peak_kw: r, violation_kh: r === null ? null : r * 2, tracking_kwh: r, import_kwh: r });
const hourly = (v: number) => Array.from({ length: 24 }, () => v);

const COMPARISON: ControlComparison = {
  account: ME.address,
  stored_s: T + 2 * 86_400,
  period: { start_s: T, step_s: 900, steps: N, homes: 1, end_s: T + 86_400 },
  cost_function: { weights: { cost: 1, emissions: 0, peak: 0, comfort: 10, tracking: 1 }, feed_in_share: 0 },
  policies: {
    bau: { totals: kpis(1), ratios_to_bau: ratios(1), decision_ms: 0.01 },
    rule: { totals: kpis(0.9), ratios_to_bau: ratios(0.9), decision_ms: 0.2 },
    mpc: { totals: kpis(0.8), ratios_to_bau: ratios(0.8), decision_ms: 25 },
  },
  series: {
    start_s: T,
    step_s: 3600,
    band_low_c: hourly(20),
    band_high_c: hourly(23),
    policies: {
      bau: { indoor_c: hourly(21), net_import_w: hourly(600) },
      rule: { indoor_c: hourly(20.5), net_import_w: hourly(540) },
      mpc: { indoor_c: [null, ...hourly(20.2).slice(1)], net_import_w: hourly(480) },
    },
  },
};

function step(i: number, indoor = 20.5): ControlStep {
  return {
    start_s: T + i * 900,
    indoor_c: indoor,
    band_low_c: 20,
    band_high_c: 23,
    setpoint_offset_k: i % 2 ? -1 : 0.5,
    net_import_w: 800,
    target_w: i % 3 ? null : 700,
    reason: i % 2 ? `price high in the next 3 h (step ${i})` : `cheap hour: pre-heat (step ${i})`,
  };
}

const STATUS: ControlStatus = {
  account: ME.address,
  policy: "mpc",
  updated_s: T + 20 * 900,
  comfort_violation_kh: 0.25,
  steps: Array.from({ length: 20 }, (_, i) => step(i, i === 19 ? 19.5 : 20.5)),
  flexibility: { start_s: T + 20 * 900, step_s: 900, up_wh: [120, 110, 90, 60], down_wh: [80, 75, 40, 0], rebound_wh: [30, 20, -10, 0] },
};

const COMMUNITY: ControlCommunity = {
  homes: 4,
  min_homes: 3,
  suppressed: false,
  from_s: T,
  to_s: T + 86_400,
  policies: {
    bau: { homes: 4, totals: kpis(5), ratios_to_bau: ratios(1), decision_ms: 0.01 },
    mpc: { homes: 4, totals: kpis(4), ratios_to_bau: ratios(0.8), decision_ms: 25 },
    rl: { homes: 1, totals: kpis(1.2), ratios_to_bau: ratios(null), decision_ms: 1 },
  },
};

it("compares the policies on the home, says what the controller did and why, and the community", async () => {
  renderIn(<ControlPage />, { me: ME, api: routesApi({ "/control/compare": COMPARISON, "/control/status": STATUS, "/control/community": COMMUNITY }) });

  // the home's KPI table: rows policies, columns the totals with the difference from bau
  const table = await screen.findByTestId("control-kpis");
  const headers = within(table).getAllByRole("columnheader").map((h) => h.textContent);
  expect(headers).toEqual(["Policy", "Energy cost", "Emissions (kg CO₂)", "Peak import (kW)", "Discomfort (K·h)", "Off target (kWh)"]);
  const rows = within(table).getAllByRole("row").slice(1);
  expect(rows.map((r) => r.getAttribute("data-policy"))).toEqual(["bau", "rule", "mpc"]);
  expect(within(rows[0]).getByRole("rowheader")).toHaveTextContent("Business as usual");
  expect(rows[0]).toHaveTextContent("4.20");
  expect(rows[0]).not.toHaveTextContent("%");
  expect(rows[2]).toHaveTextContent("Model-predictive control3.36 (−20 %)");
  expect(rows[2]).toHaveTextContent("0.32 (+60 %)"); // discomfort: 0.4 × 0.8, ratio 1.6
  expect(screen.getByTestId("control-period")).toHaveTextContent("1 day, steps of 15 minutes");
  expect(screen.getByTestId("control-period")).toHaveTextContent("cost × 1 + discomfort × 10 + distance from targets × 1; export earns nothing");

  // the charts: indoor temperature of each policy against the band, net import in kW
  const charts = screen.getAllByTestId("chart");
  expect(charts[0]).toHaveTextContent(
    "Indoor temperature under each policy, and the comfort band: 24 points; Business as usual=21/21; Price rule=20.5/20.5; Model-predictive control=/20.2; Comfort band, low=20/20; Comfort band, high=23/23",
  );
  expect(charts[1]).toHaveTextContent("Net import under each policy (kW, mean per hour): 24 points; Business as usual=0.6/0.6; Price rule=0.54/0.54; Model-predictive control=0.48/0.48");

  // the controller's status: comfort, flexibility, the last 12 steps newest first with reasons
  expect(await screen.findByTestId("control-comfort")).toHaveTextContent("0.25 K·h outside your comfort band over the last 20 steps (1 of them ended outside it)");
  expect(screen.getByTestId("control-flexibility")).toHaveTextContent("Over the next 1 h: up to 0.38 kWh more import (at most 120 Wh in one 15 minutes)");
  expect(charts[2]).toHaveTextContent("Flexibility of your home per 15 minutes (Wh): 4 points; More import (up)=120/110; Less import (down)=80/75");
  const steps = screen.getByTestId("control-steps");
  let stepRows = within(steps).getAllByRole("row").slice(1);
  expect(stepRows).toHaveLength(12);
  expect(stepRows[0]).toHaveTextContent("price high in the next 3 h (step 19)");
  expect(stepRows[0]).toHaveAttribute("data-outside", "true");
  expect(stepRows[0]).toHaveTextContent("19.5 (outside)");
  expect(stepRows[0]).toHaveTextContent("−1.0");
  expect(stepRows[1]).toHaveTextContent("20.0 to 23.0+0.50.800.70cheap hour: pre-heat (step 18)"); // band, setpoint, kW
  const more = screen.getByRole("button", { name: "Show all 20 steps" });
  expect(more).toHaveAttribute("aria-expanded", "false");
  fireEvent.click(more);
  stepRows = within(screen.getByTestId("control-steps")).getAllByRole("row").slice(1);
  expect(stepRows).toHaveLength(20);
  expect(screen.getByRole("button", { name: "Show the last 12 steps only" })).toHaveAttribute("aria-expanded", "true");

  // the community: summed totals, homes per policy, a ratio that cannot be computed
  const community = screen.getByTestId("control-community");
  const crow = within(community).getAllByRole("row").slice(1);
  expect(crow.map((r) => r.getAttribute("data-policy"))).toEqual(["bau", "mpc", "rl"]);
  expect(crow[1]).toHaveTextContent("Model-predictive control416.80 (−20 %)");
  expect(crow[2]).toHaveTextContent("Reinforcement learning15.04 (no ratio)");
  expect(screen.getByTestId("control-community-homes")).toHaveTextContent("Summed over the 4 homes");
  // every table in a labelled, keyboard-reachable region
  const tables = screen.getAllByRole("region", { name: /\(table\)$/ });
  expect(tables.map((t) => t.getAttribute("aria-label"))).toEqual([
    "Control policies on your home (table)",
    "The controller's last steps (table)",
    "Control policies over the community (table)",
  ]);
  for (const region of tables) expect(region).toHaveAttribute("tabindex", "0");
});

it("says when nothing is stored yet (404) and when the community is too small", async () => {
  renderIn(<ControlPage />, { me: ME, api: routesApi({ "/control/community": { ...COMMUNITY, homes: 2, suppressed: true, policies: {} } }) });
  expect(await screen.findByTestId("no-control-compare")).toHaveTextContent("The control policies have not been compared on your home yet");
  expect(await screen.findByTestId("no-control-status")).toHaveTextContent("No controller drives your home yet");
  expect(await screen.findByTestId("control-community-suppressed")).toHaveTextContent("compared on 2 homes so far: the community's totals are shown from 3 homes on");
  expect(screen.queryByRole("table")).toBeNull();
});

it("says when no home of the community was compared, and a status without steps or flexibility", async () => {
  renderIn(<ControlPage />, { me: ME, api: routesApi({ "/control/status": { ...STATUS, flexibility: null, steps: [] } }) });
  expect(await screen.findByTestId("no-control-community")).toHaveTextContent("not been compared on any home");
  expect(await screen.findByTestId("control-flexibility")).toHaveTextContent("Not estimated for your home yet.");
  expect(screen.getByText("The controller has taken no step in your home yet.")).toBeInTheDocument();
});

it("asks to log in first", () => {
  renderIn(<ControlPage />, {});
  expect(screen.getByText(/log in as a member/)).toBeInTheDocument();
});

describe("control helpers", () => {
  it("says a ratio to business as usual as the difference from it", () => {
    expect(ratioText(0.9)).toBe("−10 %");
    expect(ratioText(1.004)).toBe("+0.4 %");
    expect(ratioText(1)).toBe("±0.0 %");
    expect(ratioText(2.5)).toBe("+150 %");
    expect(ratioText(null)).toBe("no ratio");
  });
  it("says comfort, flexibility and the cost function in words", () => {
    expect(comfortText(0, 0, 8)).toBe("Kept: your home stayed within its comfort band in all of the last 8 steps.");
    expect(stepsOutside([step(0, 19.9), step(1, 23.1), step(2, 21), { ...step(3, 10), band_low_c: null }])).toBe(2);
    expect(flexText({ start_s: T, step_s: 900, up_wh: [100, 200], down_wh: [50, 50], rebound_wh: [-30, -20] })).toBe(
      "Over the next 0.50 h: up to 0.30 kWh more import (at most 200 Wh in one 15 minutes), up to 0.10 kWh less (at most 50 Wh), then 0.05 kWh coming back after shedding.",
    );
    expect(costFunctionText({ weights: { cost: 1, peak: 0.5 }, feed_in_share: 0.4 })).toBe("cost × 1 + peak × 0.5; export earns 40 % of the import price");
  });
  it("draws every policy it has, with the comfort band", () => {
    const c = controlCharts({ ...COMPARISON.series, step_s: 900, policies: { bau: COMPARISON.series.policies.bau } });
    expect(c.times.slice(0, 2)).toEqual([T, T + 900]);
    expect(c.temperature.map((s) => s.label)).toEqual(["Business as usual", "Comfort band, low", "Comfort band, high"]);
    expect(c.power[0].values[0]).toBe(0.6);
    expect(c.stepWords).toBe("15 minutes");
  });
});
