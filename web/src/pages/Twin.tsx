// Member: the thermal twin of its home (SLC-9): how well it fits, measured against simulated
// indoor temperature and heating/cooling energy over time, and the what-if scenarios side by
// side; choosing a scenario in the table draws its series over the as-is ones.
import { useMemo, useState } from "react";
import { TimeChart, type Series } from "../components/Chart";
import { TableBox } from "../components/TableBox";
import { Field, Loading, NeedsLogin, Panel, ProblemBox } from "../components/ui";
import { Time } from "../components/values";
import { ApiError, type Twin, type TwinScenario, type TwinSeries, type TwinValues } from "../lib/api";
import { useLoad } from "../lib/hooks";
import { useApp } from "../state";

const AS_IS = "as-is";
const DAY = 86_400;
const PERIODS = [
  { days: 7, label: "Last 7 days" },
  { days: 14, label: "Last 14 days" },
  { days: 30, label: "Last 30 days" },
  { days: 90, label: "Last 90 days" },
  { days: 365, label: "Last year" },
] as const;

export default function TwinPage() {
  const { me } = useApp();
  return (
    <>
      <h1>Home twin</h1>
      {me ? <TwinBody /> : <NeedsLogin role="a member" />}
    </>
  );
}

function TwinBody() {
  const { api } = useApp();
  // Not reloaded on chain events: a twin changes when `bright twin` runs, not with blocks.
  const twin = useLoad(() => api.get<Twin>("/twin"), [api]);
  if (twin.error instanceof ApiError && twin.error.status === 404) {
    return (
      <p className="notice" data-testid="no-twin">
        There is no twin of your home yet. It is made from your home's measured data (indoor temperature and heating or cooling energy) by the
        platform's operator (<code>bright twin</code>); this page then shows how well it follows your home and what-if scenarios.
      </p>
    );
  }
  if (twin.error) return <ProblemBox error={twin.error} />;
  if (!twin.data) return <Loading what="your home's twin" />;
  return <TwinView twin={twin.data} />;
}

function TwinView({ twin }: { twin: Twin }) {
  const { api } = useApp();
  const base = twin.scenarios.find((s) => s.name === AS_IS) ?? twin.scenarios[0];
  const [days, setDays] = useState(14);
  const [chosen, setChosen] = useState<string>(base?.name ?? AS_IS);
  const to = base?.series.end_s ?? 0;
  const from = Math.max(base?.series.start_s ?? 0, to - days * DAY);
  const asIs = useLoad(
    () => (base ? api.get<TwinSeries>("/twin/series", { scenario: base.name, from, to }) : Promise.resolve(null)),
    [api, base?.name, from, to],
  );
  const other = useLoad(
    () => (base && chosen !== base.name ? api.get<TwinSeries>("/twin/series", { scenario: chosen, from, to }) : Promise.resolve(null)),
    [api, base?.name, chosen, from, to],
  );
  const charts = useMemo(
    () => twinCharts(asIs.data ?? null, other.data ?? null, base?.name ?? AS_IS),
    [asIs.data, other.data, base?.name],
  );
  const fit = fitText(twin.fit);
  return (
    <div className="grid">
      <Panel title="How well the twin follows your home" wide>
        <dl className="facts" data-testid="twin-fit">
          <dt>Fit</dt>
          <dd>{fit ?? "The twin was not calibrated on your home's measurements: its parameters are assumed."}</dd>
          <dt>Home</dt>
          <dd>{twin.home_id}</dd>
          <dt>Twin made</dt>
          <dd>
            <Time s={twin.created_s} />
          </dd>
          <dt>Simulated period</dt>
          <dd>
            {base ? (
              <>
                <Time s={base.series.start_s} /> to <Time s={base.series.end_s} /> ({Math.round((base.series.end_s - base.series.start_s) / DAY)} days)
              </>
            ) : (
              "no scenario simulated"
            )}
          </dd>
        </dl>
      </Panel>
      <Panel title="Measured against simulated" wide>
        <div style={{ maxWidth: "16rem" }}>
          <Field label="Period shown">
            {(id) => (
              <select id={id} value={days} onChange={(e) => setDays(Number(e.target.value))}>
                {PERIODS.map((p) => (
                  <option key={p.days} value={p.days}>
                    {p.label}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </div>
        <ProblemBox error={asIs.error ?? other.error} />
        {!asIs.data ? (
          !asIs.error && <Loading what="the series" />
        ) : (
          <>
            <TimeChart title="Indoor temperature" times={charts.times} series={charts.temperature} unit="°C" unitRight="°C outdoor" />
            <TimeChart title={`Heating and cooling energy (kWh per ${charts.stepWords})`} times={charts.times} series={charts.energy} unit="kWh" />
            <p className="muted small">
              {asIs.data.measured ? "Measured: what your home's sensors and meters recorded." : "Nothing was measured for your home: the simulation only."} Cooling
              counts negative. {chosen !== base?.name ? `Dashed: the "${chosen}" scenario.` : "Choose a scenario below to draw it over these."}
            </p>
          </>
        )}
      </Panel>
      <Panel title="What-if scenarios" wide>
        <ScenarioTable scenarios={twin.scenarios} base={base} chosen={chosen} onChoose={setChosen} />
      </Panel>
    </div>
  );
}

function ScenarioTable({
  scenarios,
  base,
  chosen,
  onChoose,
}: {
  scenarios: TwinScenario[];
  base: TwinScenario | undefined;
  chosen: string;
  onChoose: (name: string) => void;
}) {
  if (scenarios.length === 0) return <p>The twin simulated no scenario.</p>;
  const fuel = scenarios.some((s) => (s.totals.fuel_kwh ?? 0) !== 0);
  return (
    <TableBox label="What-if scenarios" file="twin-scenarios">
      <table data-testid="twin-scenarios">
        <caption className="sr-only">What-if scenarios of your home's twin: totals over the simulated period and the difference from as-is</caption>
        <thead>
          <tr>
            <th scope="col">Show</th>
            <th scope="col">Scenario</th>
            <th scope="col">What changes</th>
            <th scope="col">Heat (kWh)</th>
            <th scope="col">Electricity (kWh)</th>
            {fuel && <th scope="col">Fuel (kWh)</th>}
            <th scope="col">Discomfort (K·h)</th>
            <th scope="col">Against as-is</th>
          </tr>
        </thead>
        <tbody>
          {scenarios.map((s) => (
            <tr key={s.name} data-scenario={s.name} data-chosen={s.name === chosen ? "true" : undefined}>
              <td>
                <input
                  type="radio"
                  name="twin-scenario"
                  checked={s.name === chosen}
                  onChange={() => onChoose(s.name)}
                  aria-label={`Show ${s.name} in the charts`}
                />
              </td>
              <th scope="row">{s.name}</th>
              <td>{s.description}</td>
              <td data-raw={s.totals.heat_kwh ?? ""} data-unit="kWh">{kwh(s.totals.heat_kwh)}</td>
              <td data-raw={s.totals.electricity_kwh ?? ""} data-unit="kWh">{kwh(s.totals.electricity_kwh)}</td>
              {fuel && <td>{kwh(s.totals.fuel_kwh)}</td>}
              <td>{kwh(s.totals.comfort_kh)}</td>
              <td>{base && s !== base ? vsAsIs(s, base) : "–"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableBox>
  );
}

// ---- pure helpers (unit-tested) --------------------------------------------------------------

export function kwh(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  return v.toLocaleString("en-US", { maximumFractionDigits: 1, minimumFractionDigits: 1 });
}

/** "heat −120.0 kWh (−8 %), electricity +450.0 kWh (+35 %), discomfort +3.5 K·h" */
export function vsAsIs(s: TwinScenario, base: TwinScenario): string {
  const parts: string[] = [];
  const diff = (key: string, what: string, unit: string, pct: boolean) => {
    const v = s.totals[key];
    const b = base.totals[key];
    if (v === null || v === undefined || b === null || b === undefined) return;
    const d = v - b;
    const sign = d > 0 ? "+" : d < 0 ? "−" : "±";
    const pctAbs = Math.abs((d / b) * 100);
    // whole per cents from 10 %, one decimal below (a small change does not read as none)
    const share = pct && Math.abs(b) > 1e-9 ? ` (${sign}${pctAbs >= 9.5 ? Math.round(pctAbs) : pctAbs.toFixed(1)} %)` : "";
    parts.push(`${what} ${sign}${kwh(Math.abs(d))} ${unit}${share}`);
  };
  diff("heat_kwh", "heat", "kWh", true);
  diff("electricity_kwh", "electricity", "kWh", true);
  diff("comfort_kh", "discomfort", "K·h", false);
  return parts.join(", ") || "–";
}

/** The calibration in words, or null when the twin was not calibrated. */
export function fitText(fit: Record<string, unknown>): string | null {
  const num = (k: string) => (typeof fit[k] === "number" && Number.isFinite(fit[k]) ? (fit[k] as number) : null);
  const rmse = num("rmse_c");
  const mae = num("mae_c");
  const wape = num("energy_wape");
  const parts: string[] = [];
  if (rmse !== null) parts.push(`simulated within ${rmse.toFixed(2)} °C RMSE of your measured indoor temperature`);
  if (mae !== null) parts.push(`mean error ${mae.toFixed(2)} °C`);
  if (wape !== null) parts.push(`heating/cooling energy within ${Math.round(wape * 100)} % (WAPE)`);
  if (parts.length === 0) return Object.keys(fit).length ? "Calibrated on your home's measurements." : null;
  const text = parts.join(", ");
  return `${text[0].toUpperCase()}${text.slice(1)}.`;
}

type Key = "indoor_c" | "heat_wh" | "electricity_wh" | "outdoor_c" | "setpoint_c";

/** `values[key]` on a grid of `n` steps of `step` s from `t0`: a temperature as the mean of
 *  the values in each step, an energy as their total (gaps filled by the mean of the values
 *  present); null where the step has none. */
export function onGrid(values: TwinValues, key: Key, t0: number, step: number, n: number, how: "mean" | "sum"): (number | null)[] {
  const sum = new Array<number>(n).fill(0);
  const count = new Array<number>(n).fill(0);
  values[key].forEach((v, i) => {
    if (v === null) return;
    const k = Math.floor((values.start_s + i * values.step_s - t0) / step);
    if (k < 0 || k >= n) return;
    sum[k] += v;
    count[k] += 1;
  });
  const per = Math.max(1, step / values.step_s);
  return sum.map((s, k) => (count[k] === 0 ? null : how === "mean" ? s / count[k] : (s / count[k]) * per));
}

/** A common time grid of series at different steps (measured hourly, simulated at 15
 *  minutes): the coarsest step among them, over the span they cover. */
export function commonGrid(parts: (TwinValues | null | undefined)[]): { t0: number; step: number; n: number } | null {
  const present = parts.filter((p): p is TwinValues => !!p && p.indoor_c.length > 0);
  if (present.length === 0) return null;
  const step = Math.max(...present.map((p) => p.step_s));
  const t0 = Math.floor(Math.min(...present.map((p) => p.start_s)) / step) * step;
  const end = Math.max(...present.map((p) => p.start_s + p.step_s * p.indoor_c.length));
  return { t0, step, n: Math.max(0, Math.ceil((end - t0) / step)) };
}

const COLOURS = { measured: "#222222", simulated: "#1f4e79", scenario: "#c0392b", setpoint: "#7f8c8d", outdoor: "#5dade2", electricity: "#1e8449" };

export function twinCharts(asIs: TwinSeries | null, other: TwinSeries | null, baseName: string) {
  const grid = commonGrid([asIs?.measured, asIs?.simulated, other?.simulated]);
  if (!asIs || !grid) return { times: [] as number[], temperature: [] as Series[], energy: [] as Series[], stepWords: "hour" };
  const { t0, step, n } = grid;
  const times = Array.from({ length: n }, (_, i) => t0 + i * step);
  const kwhOf = (v: (number | null)[]) => v.map((x) => (x === null ? null : x / 1000));
  const simName = baseName === AS_IS ? "Simulated" : `Simulated (${baseName})`;
  const temperature: Series[] = [];
  const energy: Series[] = [];
  const m = asIs.measured;
  const sim = asIs.simulated;
  if (m && m.indoor_c.length) {
    temperature.push({ label: "Measured", values: onGrid(m, "indoor_c", t0, step, n, "mean"), color: COLOURS.measured, summary: "mean" });
    if (m.heat_wh.some((v) => v !== null)) energy.push({ label: "Measured heat", values: kwhOf(onGrid(m, "heat_wh", t0, step, n, "sum")), color: COLOURS.measured });
  }
  temperature.push({ label: simName, values: onGrid(sim, "indoor_c", t0, step, n, "mean"), color: COLOURS.simulated, summary: "mean" });
  if (sim.setpoint_c.length)
    temperature.push({ label: "Setpoint", values: onGrid(sim, "setpoint_c", t0, step, n, "mean"), color: COLOURS.setpoint, dash: [2, 3], summary: "mean" });
  if (sim.outdoor_c.length)
    temperature.push({ label: "Outdoor", values: onGrid(sim, "outdoor_c", t0, step, n, "mean"), color: COLOURS.outdoor, axis: "right", summary: "mean" });
  energy.push({ label: `${simName} heat`, values: kwhOf(onGrid(sim, "heat_wh", t0, step, n, "sum")), color: COLOURS.simulated });
  energy.push({ label: `${simName} electricity`, values: kwhOf(onGrid(sim, "electricity_wh", t0, step, n, "sum")), color: COLOURS.electricity });
  if (other) {
    const o = other.simulated;
    temperature.push({
      label: `Scenario ${other.scenario}`,
      values: onGrid(o, "indoor_c", t0, step, n, "mean"),
      color: COLOURS.scenario,
      dash: [6, 4],
      summary: "mean",
    });
    energy.push({ label: `Scenario ${other.scenario} heat`, values: kwhOf(onGrid(o, "heat_wh", t0, step, n, "sum")), color: COLOURS.scenario, dash: [6, 4] });
    energy.push({
      label: `Scenario ${other.scenario} electricity`,
      values: kwhOf(onGrid(o, "electricity_wh", t0, step, n, "sum")),
      color: COLOURS.electricity,
      dash: [6, 4],
    });
  }
  return { times, temperature, energy, stepWords: step === 900 ? "15 minutes" : step === 3600 ? "hour" : `${step / 60} minutes` };
}
