import { screen, within } from "@testing-library/react";
import { vi } from "vitest";
import { ME, renderIn, routesApi } from "../test-utils";
import DashboardsPage from "./Dashboards";

// uPlot draws on a canvas jsdom does not have: the chart is checked by its title and data.
vi.mock("../components/Chart", () => ({
  TimeChart: ({ title, times, series }: { title: string; times: number[]; series: { label: string; values: (number | null)[] }[] }) => (
    <figure data-testid="chart">
      {title}: {times.length} points; {series.map((s) => `${s.label}=${s.values.join("/")}`).join("; ")}
    </figure>
  ),
}));

const T = 1_795_702_500;
const routes = {
  "/dashboards/market": {
    data: [
      { session_id: 1, grid_area: "", delivery_start_s: T, status: "settled", price_per_kwh: 120_000, volume_wh: 500, match_count: 1 },
      { session_id: 2, grid_area: "", delivery_start_s: T + 900, status: "cleared", price_per_kwh: 150_000, volume_wh: 1500, match_count: 2 },
    ],
    count: 9,
    volume_wh: 2000,
    mean_price_per_kwh: 142_500,
  },
  "/dashboards/dso": {
    dso: "0x0000000000000000000000000000000000000D50",
    requests: [
      { request_id: 4, dso: "0x0000000000000000000000000000000000000D50", grid_area: "feeder-1", status: "settled", window_start_s: T, requested_wh: 200, target_wh: 200, delivered_wh: 190, credited_wh: 190, within_tolerance: true, paid: "38000", cost_per_kwh: 200_000 },
      { request_id: 5, dso: "0x0000000000000000000000000000000000000D50", grid_area: "feeder-2", status: "settled", window_start_s: T + 3600, requested_wh: 200, target_wh: 200, delivered_wh: 50, credited_wh: 50, within_tolerance: false, paid: "0", cost_per_kwh: 0 },
    ],
    intervals: [
      { request_id: 4, interval_start_s: T, requested_wh: 100, delivered_wh: 95 },
      { request_id: 4, interval_start_s: T + 900, requested_wh: 100, delivered_wh: 95 },
    ],
    count: 2,
    settled_count: 2,
    within_tolerance_count: 1,
    success_rate: 0.5,
    paid_total: "38000",
    credited_wh_total: 240,
    cost_per_kwh: 158_333.33,
  },
  "/dashboards/operator": {
    head_block: 120, indexed_block: 117, lag_blocks: 3, events_indexed: 900, events_per_minute: null,
    services: [
      { name: "read models", ok: true, detail: "answer" },
      { name: "chain RPC", ok: false, detail: "http://x does not answer" },
    ],
    members: 17, participants: 21, sessions_cleared: 40, volume_wh: 123_000, requests_published: 6, requests_settled: 4,
    gas_spent: null, gas_note: "The read models keep events, not receipts.",
  },
  [`/dashboards/members/${ME.address}`]: {
    account: ME.address,
    data: [
      { kind: "session", id: 1, time_s: T, earned: "60000", penalty: "0", points: null, reputation: 0 },
      { kind: "request", id: 4, time_s: T + 900, earned: "20000", penalty: "5000", points: 15, reputation: 15 },
    ],
    earned_total: "80000",
    penalty_total: "5000",
    reputation: 15,
  },
};

it("shows a member the market's history and its own earnings, not the DSO's or operator's panels", async () => {
  renderIn(<DashboardsPage />, { me: ME, api: routesApi(routes) });
  const kpis = await screen.findByTestId("market-kpis");
  expect(kpis).toHaveTextContent("9 (the latest 2 shown)");
  expect(kpis).toHaveTextContent("14.25 ct/kWh");
  const charts = await screen.findAllByTestId("chart");
  expect(charts[0]).toHaveTextContent("Volume (Wh)=500/1500; Clearing price (ct/kWh)=12/15");
  const mine = await screen.findByTestId("member-kpis");
  expect(mine).toHaveTextContent("€ 0.08");
  expect(mine).toHaveTextContent("€ 0.005");
  expect(mine).toHaveTextContent("15 points");
  expect(screen.getByText(/Earned \(€\)=0.06\/0.02; Penalty \(€\)=0\/-0.005; Reputation \(points\)=0\/15/)).toBeInTheDocument();
  expect(screen.queryByTestId("dso-kpis")).toBeNull();
  expect(screen.queryByTestId("health")).toBeNull();
});

it("shows the DSO its success rate, cost per kWh and delivered against requested", async () => {
  renderIn(<DashboardsPage />, { me: { ...ME, roles: ["dso"] }, api: routesApi(routes) });
  expect(await screen.findByTestId("success-rate")).toHaveTextContent("50 % (1 of 2 settled requests delivered within tolerance)");
  expect(screen.getByTestId("dso-kpis")).toHaveTextContent("15.83 ct/kWh (€ 0.038 for 240 Wh credited)");
  const rows = within(screen.getByTestId("dso-requests")).getAllByRole("row").slice(1).map((r) => r.textContent);
  expect(rows[0]).toContain("#4");
  expect(rows[0]).toContain("200 Wh190 Wh");
  expect(rows[1]).toContain("no€ 0.00");
  expect(screen.getByRole("button", { name: "Download Requests: delivered against requested as CSV" })).toBeInTheDocument();
  expect(screen.queryByTestId("member-kpis")).toBeNull();
});

it("shows the operator the platform's health and key figures, gas said to be missing", async () => {
  renderIn(<DashboardsPage />, { me: { ...ME, roles: ["market-operator"] }, api: routesApi(routes) });
  expect(await screen.findByTestId("lag")).toHaveTextContent("3 blocks");
  expect(screen.getByTestId("health")).toHaveTextContent("measured from the next refresh");
  expect(screen.getByRole("list", { name: "Services" })).toHaveTextContent("chain RPC: problem, http://x does not answer");
  const kpis = screen.getByTestId("kpis");
  expect(kpis).toHaveTextContent("17 of 21 participants");
  expect(kpis).toHaveTextContent("4 of 6 published");
  expect(kpis).toHaveTextContent("not in the read models (see below)");
  expect(screen.getByText("The read models keep events, not receipts.")).toBeInTheDocument();
});
