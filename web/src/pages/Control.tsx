// Member: control over its home's thermal twin (issue 18): the control policies compared for its
// home (totals against business as usual, indoor temperature against the comfort band and net
// import under each policy), what the controller did in its home and why (the last steps with
// their reasons, comfort kept, flexibility), and the policies compared over the community.
import { useMemo, useState } from "react";
import { TimeChart, type Series } from "../components/Chart";
import { TableBox } from "../components/TableBox";
import { Loading, NeedsLogin, Panel, ProblemBox } from "../components/ui";
import { Time } from "../components/values";
import {
  ApiError,
  getControlCommunity,
  getControlComparison,
  getControlStatus,
  type ControlComparison,
  type ControlCommunity,
  type ControlFlexibility,
  type ControlPolicy,
  type ControlPolicyResult,
  type ControlSeries,
  type ControlStatus,
  type ControlStep,
} from "../lib/api";
import { useLoad } from "../lib/hooks";
import { useApp } from "../state";

export const POLICIES: ControlPolicy[] = ["bau", "rule", "mpc", "rl"];
export const POLICY_NAMES: Record<ControlPolicy, string> = {
  bau: "Business as usual",
  rule: "Price rule",
  mpc: "Model-predictive control",
  rl: "Reinforcement learning",
};
const COLOURS: Record<ControlPolicy | "band", string> = { bau: "#222222", rule: "#1e8449", mpc: "#1f4e79", rl: "#c0392b", band: "#7f8c8d" };
/** The columns of a comparison: total, its unit, digits. */
const KPI_COLUMNS = [
  { key: "cost", label: "Energy cost", unit: "", digits: 2 },
  { key: "emissions_kg", label: "Emissions", unit: "kg CO₂", digits: 1 },
  { key: "peak_kw", label: "Peak import", unit: "kW", digits: 2 },
  { key: "violation_kh", label: "Discomfort", unit: "K·h", digits: 2 },
  { key: "tracking_kwh", label: "Off target", unit: "kWh", digits: 2 },
] as const;
const STEPS_SHOWN = 12;

export default function ControlPage() {
  const { me } = useApp();
  return (
    <>
      <h1>Control</h1>
      {me ? <ControlBody /> : <NeedsLogin role="a member" />}
    </>
  );
}

const notFound = (e: unknown) => e instanceof ApiError && e.status === 404;

function ControlBody() {
  const { api } = useApp();
  // Not reloaded on chain events: a comparison or a status changes when a control run stores one.
  const compare = useLoad(() => getControlComparison(api), [api]);
  const status = useLoad(() => getControlStatus(api), [api]);
  const community = useLoad(() => getControlCommunity(api), [api]);
  return (
    <div className="grid">
      <Panel title="Your home: the control policies compared" wide>
        {notFound(compare.error) ? (
          <p className="notice" data-testid="no-control-compare">
            The control policies have not been compared on your home yet. The platform's operator runs them on your home's thermal twin (
            <code>bright control compare</code>); this section then shows what each one would cost, emit and keep of your comfort against business as usual.
          </p>
        ) : compare.error ? (
          <ProblemBox error={compare.error} />
        ) : !compare.data ? (
          <Loading what="your home's comparison" />
        ) : (
          <ComparisonView comparison={compare.data} />
        )}
      </Panel>
      <Panel title="What the controller did in your home, and why" wide>
        {notFound(status.error) ? (
          <p className="notice" data-testid="no-control-status">
            No controller drives your home yet: once one does, this section shows its last decisions with the reason for each, whether your comfort was kept, and how much
            your home can shift.
          </p>
        ) : status.error ? (
          <ProblemBox error={status.error} />
        ) : !status.data ? (
          <Loading what="your home's control status" />
        ) : (
          <StatusView status={status.data} />
        )}
      </Panel>
      <Panel title="The community: the control policies compared" wide>
        {notFound(community.error) ? (
          <p className="notice" data-testid="no-control-community">
            The control policies have not been compared on any home of the community yet.
          </p>
        ) : community.error ? (
          <ProblemBox error={community.error} />
        ) : !community.data ? (
          <Loading what="the community's comparison" />
        ) : (
          <CommunityView community={community.data} />
        )}
      </Panel>
    </div>
  );
}

function ComparisonView({ comparison }: { comparison: ControlComparison }) {
  const { period } = comparison;
  const charts = useMemo(() => controlCharts(comparison.series), [comparison.series]);
  return (
    <div data-testid="control-compare">
      <dl className="facts" data-testid="control-period">
        <dt>Period</dt>
        <dd>
          <Time s={period.start_s} /> to <Time s={period.end_s} /> ({durationText(period.end_s - period.start_s)}, steps of {period.step_s / 60} minutes)
        </dd>
        <dt>The policies minimised</dt>
        <dd>{costFunctionText(comparison.cost_function)}</dd>
        <dt>Compared</dt>
        <dd>
          <Time s={comparison.stored_s} />
        </dd>
      </dl>
      <KpiTable
        policies={comparison.policies}
        label="Control policies on your home"
        file="control-home"
        testid="control-kpis"
        caption="The control policies on your home's twin over the period: totals, and in brackets the difference from business as usual"
      />
      <TimeChart title="Indoor temperature under each policy, and the comfort band" times={charts.times} series={charts.temperature} unit="°C" />
      <TimeChart title={`Net import under each policy (kW, mean per ${charts.stepWords})`} times={charts.times} series={charts.power} unit="kW" />
      <p className="muted small">
        Business as usual: your thermostat as it is. Price rule: eases off when electricity is dear and pre-heats when cheap. Model-predictive control: plans the next
        hours on your home's twin. Reinforcement learning: a policy learnt on many homes. Dashed: the edges of your comfort band; export counts negative.
      </p>
    </div>
  );
}

function KpiTable({
  policies,
  label,
  file,
  testid,
  caption,
  homes,
}: {
  policies: Partial<Record<ControlPolicy, ControlPolicyResult & { homes?: number }>>;
  label: string;
  file: string;
  testid: string;
  caption: string;
  homes?: boolean;
}) {
  const rows = POLICIES.filter((p) => policies[p]);
  return (
    <TableBox label={label} file={file}>
      <table data-testid={testid}>
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Policy</th>
            {homes && <th scope="col">Homes</th>}
            {KPI_COLUMNS.map((c) => (
              <th scope="col" key={c.key}>
                {c.label}
                {c.unit ? ` (${c.unit})` : ""}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((p) => {
            const r = policies[p]!;
            return (
              <tr key={p} data-policy={p}>
                <th scope="row">{POLICY_NAMES[p]}</th>
                {homes && <td>{r.homes ?? "–"}</td>}
                {KPI_COLUMNS.map((c) => (
                  <td key={c.key} data-raw={r.totals[c.key]} data-unit={c.unit || undefined}>
                    {fixed(r.totals[c.key], c.digits)}
                    {p !== "bau" && <span className="muted"> ({ratioText(r.ratios_to_bau[c.key])})</span>}
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </TableBox>
  );
}

function StatusView({ status }: { status: ControlStatus }) {
  const [all, setAll] = useState(false);
  const steps = status.steps;
  const outside = stepsOutside(steps);
  const shown = (all ? steps : steps.slice(-STEPS_SHOWN)).slice().reverse();
  return (
    <>
      <dl className="facts" data-testid="control-status">
        <dt>Policy</dt>
        <dd>{POLICY_NAMES[status.policy] ?? status.policy}</dd>
        <dt>Updated</dt>
        <dd>
          <Time s={status.updated_s} />
        </dd>
        <dt>Comfort</dt>
        <dd data-testid="control-comfort">{comfortText(status.comfort_violation_kh, outside, steps.length)}</dd>
        <dt>Flexibility</dt>
        <dd data-testid="control-flexibility">{status.flexibility ? flexText(status.flexibility) : "Not estimated for your home yet."}</dd>
      </dl>
      {status.flexibility && <FlexChart flex={status.flexibility} />}
      {steps.length === 0 ? (
        <p>The controller has taken no step in your home yet.</p>
      ) : (
        <>
          <TableBox label="The controller's last steps" file="control-steps">
            <table data-testid="control-steps">
              <caption className="sr-only">What the controller did in your home in its last steps, newest first, and why</caption>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Indoor (°C)</th>
                  <th scope="col">Comfort band (°C)</th>
                  <th scope="col">Setpoint moved (K)</th>
                  <th scope="col">Net import (kW)</th>
                  <th scope="col">Target (kW)</th>
                  <th scope="col">Why</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((s) => (
                  <tr key={s.start_s} data-step={s.start_s} data-outside={isOutside(s) ? "true" : undefined}>
                    <th scope="row">
                      <Time s={s.start_s} />
                    </th>
                    <td>
                      {fixed(s.indoor_c, 1)}
                      {isOutside(s) && <span className="muted"> (outside)</span>}
                    </td>
                    <td>{bandText(s.band_low_c, s.band_high_c)}</td>
                    <td>{signed(s.setpoint_offset_k, 1)}</td>
                    <td>{fixed(s.net_import_w / 1000, 2)}</td>
                    <td>{s.target_w === null ? "–" : fixed(s.target_w / 1000, 2)}</td>
                    <td>{s.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
          {steps.length > STEPS_SHOWN && (
            <button type="button" className="link" aria-expanded={all} onClick={() => setAll((a) => !a)}>
              {all ? `Show the last ${STEPS_SHOWN} steps only` : `Show all ${steps.length} steps`}
            </button>
          )}
        </>
      )}
    </>
  );
}

function FlexChart({ flex }: { flex: ControlFlexibility }) {
  const data = useMemo(() => {
    const times = flex.up_wh.map((_, i) => flex.start_s + i * flex.step_s);
    const series: Series[] = [
      { label: "More import (up)", values: flex.up_wh, color: COLOURS.mpc },
      { label: "Less import (down)", values: flex.down_wh, color: COLOURS.rule },
      { label: "Rebound after shedding", values: flex.rebound_wh, color: COLOURS.band, dash: [2, 3] },
    ];
    return { times, series };
  }, [flex]);
  return <TimeChart title="Flexibility of your home per 15 minutes (Wh)" times={data.times} series={data.series} unit="Wh" height={200} />;
}

function CommunityView({ community }: { community: ControlCommunity }) {
  if (community.suppressed) {
    return (
      <p className="notice" data-testid="control-community-suppressed">
        The policies have been compared on {community.homes} {community.homes === 1 ? "home" : "homes"} so far: the community's totals are shown from{" "}
        {community.min_homes} homes on, so that no home's own can be read from them.
      </p>
    );
  }
  return (
    <>
      <p data-testid="control-community-homes">
        Summed over the {community.homes} homes whose policies were compared
        {community.from_s !== null && community.to_s !== null && (
          <>
            {" "}
            (periods from <Time s={community.from_s} /> to <Time s={community.to_s} />)
          </>
        )}
        ; the difference from business as usual is of the same homes' sums.
      </p>
      <KpiTable
        policies={community.policies}
        label="Control policies over the community"
        file="control-community"
        testid="control-community"
        caption="The control policies over the community's homes: totals summed over the homes, and in brackets the difference from business as usual"
        homes
      />
    </>
  );
}

// ---- pure helpers (unit-tested) --------------------------------------------------------------

export function fixed(v: number | null | undefined, digits: number): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  return v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function signed(v: number, digits: number): string {
  const text = fixed(Math.abs(v), digits);
  return v > 0 ? `+${text}` : v < 0 ? `−${text}` : `±${text}`;
}

/** A ratio to business as usual as the difference from it: 0.9 → "−10 %", 1.004 → "+0.4 %";
 *  null (business as usual's total is 0) → "no ratio". */
export function ratioText(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return "no ratio";
  const pct = (ratio - 1) * 100;
  const sign = pct > 0.05 ? "+" : pct < -0.05 ? "−" : "±";
  const abs = Math.abs(pct);
  // whole per cents from 10 %, one decimal below (a small change does not read as none)
  return `${sign}${abs >= 9.5 ? Math.round(abs) : abs.toFixed(1)} %`;
}

export function costFunctionText(cf: { weights: Record<string, number>; feed_in_share: number }): string {
  const names: Record<string, string> = { cost: "cost", emissions: "emissions", peak: "peak", comfort: "discomfort", tracking: "distance from targets" };
  const terms = Object.entries(cf.weights)
    .filter(([, w]) => w > 0)
    .map(([t, w]) => `${names[t] ?? t} × ${w}`);
  const feedIn = cf.feed_in_share > 0 ? `; export earns ${Math.round(cf.feed_in_share * 100)} % of the import price` : "; export earns nothing";
  return `${terms.join(" + ") || "nothing"}${feedIn}`;
}

export function durationText(s: number): string {
  const days = s / 86_400;
  if (days >= 1) return `${Number.isInteger(days) ? days : days.toFixed(1)} ${days === 1 ? "day" : "days"}`;
  return `${Math.round(s / 3600)} h`;
}

export function isOutside(s: ControlStep): boolean {
  return (s.band_low_c !== null && s.indoor_c < s.band_low_c - 1e-9) || (s.band_high_c !== null && s.indoor_c > s.band_high_c + 1e-9);
}

export function stepsOutside(steps: ControlStep[]): number {
  return steps.filter(isOutside).length;
}

export function comfortText(violationKh: number, outside: number, steps: number): string {
  if (violationKh <= 0 && outside === 0) return `Kept: your home stayed within its comfort band in all of the last ${steps} steps.`;
  return `${fixed(violationKh, 2)} K·h outside your comfort band over the last ${steps} steps (${outside} of them ended outside it).`;
}

function bandText(lo: number | null, hi: number | null): string {
  if (lo === null && hi === null) return "none";
  return `${lo === null ? "–" : fixed(lo, 1)} to ${hi === null ? "–" : fixed(hi, 1)}`;
}

/** The flexibility in words: the most the home can take or shed in one step, and over all. */
export function flexText(f: ControlFlexibility): string {
  const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
  const kwh = (wh: number) => fixed(wh / 1000, 2);
  const hours = (f.up_wh.length * f.step_s) / 3600;
  const rebound = sum(f.rebound_wh);
  return (
    `Over the next ${hours % 1 ? hours.toFixed(2) : hours} h: up to ${kwh(sum(f.up_wh))} kWh more import (at most ${fixed(Math.max(...f.up_wh), 0)} Wh in one 15 minutes), ` +
    `up to ${kwh(sum(f.down_wh))} kWh less (at most ${fixed(Math.max(...f.down_wh), 0)} Wh), then ${kwh(Math.abs(rebound))} kWh ${rebound >= 0 ? "to recover" : "coming back"} after shedding.`
  );
}

/** The charts of a comparison's series: indoor temperature of each policy with the comfort
 *  band, and net import of each policy in kW. */
export function controlCharts(s: ControlSeries) {
  const n = s.band_low_c.length;
  const times = Array.from({ length: n }, (_, i) => s.start_s + i * s.step_s);
  const temperature: Series[] = [];
  const power: Series[] = [];
  for (const p of POLICIES) {
    const one = s.policies[p];
    if (!one) continue;
    temperature.push({ label: POLICY_NAMES[p], values: one.indoor_c, color: COLOURS[p], summary: "mean" });
    power.push({ label: POLICY_NAMES[p], values: one.net_import_w.map((w) => (w === null ? null : w / 1000)), color: COLOURS[p], summary: "mean" });
  }
  temperature.push({ label: "Comfort band, low", values: s.band_low_c, color: COLOURS.band, dash: [4, 4], summary: "mean" });
  temperature.push({ label: "Comfort band, high", values: s.band_high_c, color: COLOURS.band, dash: [4, 4], summary: "mean" });
  const stepWords = s.step_s === 900 ? "15 minutes" : s.step_s === 3600 ? "hour" : `${s.step_s / 60} minutes`;
  return { times, temperature, power, stepWords };
}
