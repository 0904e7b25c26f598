import { fireEvent, screen, within } from "@testing-library/react";
import { vi } from "vitest";
import { Api, type TwinValues } from "../lib/api";
import { ME, renderIn, routesApi } from "../test-utils";
import TwinPage, { commonGrid, fitText, onGrid, vsAsIs } from "./Twin";

// uPlot draws on a canvas jsdom does not have: the chart is checked by its title and data.
vi.mock("../components/Chart", () => ({
  TimeChart: ({ title, times, series }: { title: string; times: number[]; series: { label: string; values: (number | null)[] }[] }) => (
    <figure data-testid="chart">
      {title}: {times.length} points; {series.map((s) => `${s.label}=${s.values.slice(0, 3).join("/")}`).join("; ")}
    </figure>
  ),
}));

const T = 1_672_531_200; // 2023-01-01T00:00Z
const END = T + 30 * 86_400;

function values(start_s: number, step_s: number, n: number, indoor: number, heat: number): TwinValues {
  return {
    start_s,
    step_s,
    indoor_c: Array.from({ length: n }, () => indoor),
    heat_wh: Array.from({ length: n }, () => heat),
    electricity_wh: Array.from({ length: n }, () => heat / 4),
    fuel_wh: [],
    outdoor_c: Array.from({ length: n }, () => 5),
    setpoint_c: Array.from({ length: n }, () => 21),
  };
}

const info = { start_s: T, step_s: 900, length: 30 * 96, end_s: END };
const TWIN = {
  account: ME.address,
  home_id: "citylearn-2023/Building_1",
  created_s: END + 3600,
  stored_s: END + 3700,
  inputs_sha256: "ab".repeat(32),
  params: { hlc_w_per_k: 180 },
  fit: { rmse_c: 0.42, mae_c: 0.31, energy_wape: 0.08 },
  measured: { start_s: T, step_s: 3600, length: 720, end_s: END },
  scenarios: [
    { name: "as-is", description: "Your home as it is", config: {}, totals: { heat_kwh: 1500, electricity_kwh: 400, fuel_kwh: 0, comfort_kh: 2 }, series: info },
    {
      name: "heat-pump",
      description: "An air-source heat pump instead of the boiler",
      config: { system: "heat-pump" },
      totals: { heat_kwh: 1500, electricity_kwh: 520, fuel_kwh: 0, comfort_kh: 2 },
      series: info,
    },
    { name: "setpoint-1", description: "Setpoint 1 °C lower", config: { offset_c: -1 }, totals: { heat_kwh: 1380, electricity_kwh: 370, fuel_kwh: 0, comfort_kh: 9.5 }, series: info },
  ],
};

/** An API answering /twin and /twin/series (by scenario), recording the queries. */
function twinApi(asked: string[]): Api {
  return new Api("token", "", (async (url: RequestInfo | URL) => {
    const u = new URL(String(url), "http://x");
    asked.push(`${u.pathname}?${u.searchParams.toString()}`);
    if (u.pathname === "/twin") return new Response(JSON.stringify(TWIN), { status: 200 });
    const scenario = u.searchParams.get("scenario") ?? "as-is";
    const from = Number(u.searchParams.get("from"));
    const to = Number(u.searchParams.get("to"));
    const indoor = scenario === "setpoint-1" ? 20 : 21;
    const body = {
      account: ME.address,
      home_id: TWIN.home_id,
      scenario,
      from_s: from,
      to_s: to,
      measured: values(from, 3600, (to - from) / 3600, 20.5, 1000),
      simulated: values(from, 900, (to - from) / 900, indoor, scenario === "setpoint-1" ? 200 : 250),
    };
    return new Response(JSON.stringify(body), { status: 200 });
  }) as typeof fetch);
}

it("shows the fit, measured against simulated, and the scenarios side by side", async () => {
  const asked: string[] = [];
  renderIn(<TwinPage />, { me: ME, api: twinApi(asked) });
  expect(await screen.findByTestId("twin-fit")).toHaveTextContent("Simulated within 0.42 °C RMSE of your measured indoor temperature");
  const charts = await screen.findAllByTestId("chart");
  expect(charts).toHaveLength(2);
  // 14 days on the measured (hourly) grid: the 15-minute simulation summed per hour
  expect(charts[0]).toHaveTextContent("Indoor temperature: 336 points; Measured=20.5/20.5/20.5; Simulated=21/21/21; Setpoint=21/21/21; Outdoor=5/5/5");
  expect(charts[1]).toHaveTextContent("Heating and cooling energy (kWh per hour): 336 points; Measured heat=1/1/1; Simulated heat=1/1/1; Simulated electricity=0.25/0.25/0.25");
  expect(asked).toContain(`/twin/series?scenario=as-is&from=${END - 14 * 86_400}&to=${END}`);

  const table = screen.getByTestId("twin-scenarios");
  const rows = within(table).getAllByRole("row").slice(1);
  expect(rows.map((r) => r.getAttribute("data-scenario"))).toEqual(["as-is", "heat-pump", "setpoint-1"]);
  expect(rows[1]).toHaveTextContent("An air-source heat pump instead of the boiler");
  expect(rows[1]).toHaveTextContent("electricity +120.0 kWh (+30 %)");
  expect(rows[2]).toHaveTextContent("heat −120.0 kWh (−8.0 %), electricity −30.0 kWh (−7.5 %), discomfort +7.5 K·h");

  // choosing a scenario draws it over the as-is series
  fireEvent.click(screen.getByRole("radio", { name: "Show setpoint-1 in the charts" }));
  await screen.findByText(/Scenario setpoint-1=20\/20\/20/);
  expect(screen.getAllByTestId("chart")[1]).toHaveTextContent("Scenario setpoint-1 heat=0.8/0.8/0.8");
  expect(asked.some((q) => q.startsWith("/twin/series?scenario=setpoint-1"))).toBe(true);

  // a longer period asks for more
  fireEvent.change(screen.getByLabelText("Period shown"), { target: { value: "30" } });
  await screen.findByText(/Indoor temperature: 720 points/);
});

it("says when the home has no twin yet", async () => {
  renderIn(<TwinPage />, { me: ME, api: routesApi({}) });
  expect(await screen.findByTestId("no-twin")).toHaveTextContent("There is no twin of your home yet");
});

it("asks to log in first", () => {
  renderIn(<TwinPage />, {});
  expect(screen.getByText(/log in as a member/)).toBeInTheDocument();
});

describe("twin helpers", () => {
  it("puts series of different steps on one grid", () => {
    const hourly = values(T, 3600, 2, 20, 1000);
    const quarter = { ...values(T, 900, 8, 21, 250), indoor_c: [20, 21, null, 22, 21, 21, 21, 21] };
    expect(commonGrid([hourly, quarter, null])).toEqual({ t0: T, step: 3600, n: 2 });
    expect(onGrid(quarter, "indoor_c", T, 3600, 2, "mean")).toEqual([21, 21]);
    // a gap is filled by the mean of the step's other values, not read as a dip
    expect(onGrid({ ...quarter, heat_wh: [250, null, 250, 250, 100, 100, 100, 100] }, "heat_wh", T, 3600, 2, "sum")).toEqual([1000, 400]);
    expect(onGrid(hourly, "heat_wh", T + 3600, 3600, 2, "sum")).toEqual([1000, null]);
  });
  it("says the fit in words", () => {
    expect(fitText({ rmse_c: 0.4, energy_wape: 0.123 })).toBe("Simulated within 0.40 °C RMSE of your measured indoor temperature, heating/cooling energy within 12 % (WAPE).");
    expect(fitText({})).toBeNull();
    expect(fitText({ params_std: {} })).toBe("Calibrated on your home's measurements.");
  });
  it("compares a scenario with as-is", () => {
    const [base, hp] = TWIN.scenarios;
    expect(vsAsIs(hp, base)).toBe("heat ±0.0 kWh (±0.0 %), electricity +120.0 kWh (+30 %), discomfort ±0.0 K·h");
  });
});
