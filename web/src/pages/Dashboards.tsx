// Dashboards (GET /dashboards/...): the market's price and volume history for every member;
// the DSO's delivered against requested, success rate and cost per kWh; the operator's
// platform health and key figures; a member's earnings, penalties and reputation over time.
import { useMemo } from "react";
import { TimeChart, type Series } from "../components/Chart";
import { TableBox } from "../components/TableBox";
import { Loading, NeedsLogin, Panel, ProblemBox } from "../components/ui";
import { Energy, Euro, Price, Time } from "../components/values";
import { formatPrice, formatWh } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { hasRole, useApp } from "../state";

export interface MarketPoint {
  session_id: number;
  grid_area: string;
  delivery_start_s: number;
  status: string;
  price_per_kwh: number | null;
  volume_wh: number;
  match_count: number;
}
export interface MarketDashboard {
  data: MarketPoint[];
  count: number;
  volume_wh: number;
  mean_price_per_kwh: number | null;
}
export interface DsoRequestPoint {
  request_id: number;
  dso: string;
  grid_area: string;
  status: string;
  window_start_s: number;
  requested_wh: number;
  target_wh: number;
  delivered_wh: number | null;
  credited_wh: number | null;
  within_tolerance: boolean | null;
  paid: string | null;
  cost_per_kwh: number | null;
}
export interface DsoDashboard {
  dso: string | null;
  requests: DsoRequestPoint[];
  intervals: { request_id: number; interval_start_s: number; requested_wh: number; delivered_wh: number | null }[];
  count: number;
  settled_count: number;
  within_tolerance_count: number;
  success_rate: number | null;
  paid_total: string;
  credited_wh_total: number;
  cost_per_kwh: number | null;
}
export interface OperatorDashboard {
  head_block: number | null;
  indexed_block: number | null;
  lag_blocks: number | null;
  events_indexed: number;
  events_per_minute: number | null;
  services: { name: string; ok: boolean; detail: string }[];
  members: number;
  participants: number;
  sessions_cleared: number;
  volume_wh: number;
  requests_published: number;
  requests_settled: number;
  gas_spent: number | null;
  gas_note: string;
}
export interface MemberDashboard {
  account: string;
  data: { kind: "request" | "session"; id: number; time_s: number; earned: string; penalty: string; points: number | null; reputation: number }[];
  earned_total: string;
  penalty_total: string;
  reputation: number;
}

const CT = 10_000; // base units per kWh in one euro cent per kWh
const EUR = 1_000_000; // base units in one euro

export default function DashboardsPage() {
  const { me } = useApp();
  return (
    <>
      <h1>Dashboards</h1>
      {me ? <DashboardsBody /> : <NeedsLogin />}
    </>
  );
}

function DashboardsBody() {
  const { me } = useApp();
  return (
    <div className="grid">
      <MarketHistory />
      {hasRole(me, "dso", "market-operator") && <DsoPanel />}
      {hasRole(me, "market-operator") && <OperatorPanel />}
      {hasRole(me, "prosumer") && <MemberPanel />}
    </div>
  );
}

export function MarketHistory() {
  const { api, tick } = useApp();
  const got = useLoad(() => api.get<MarketDashboard>("/dashboards/market", { limit: 200 }), [api, tick]);
  const chart = useMemo(() => {
    const rows = got.data?.data ?? [];
    const series: Series[] = [
      { label: "Volume (Wh)", values: rows.map((r) => r.volume_wh), color: "#1e6b3a", bars: true },
      { label: "Clearing price (ct/kWh)", values: rows.map((r) => (r.price_per_kwh === null ? null : r.price_per_kwh / CT)), color: "#1f4e79", axis: "right" },
    ];
    return { times: rows.map((r) => r.delivery_start_s), series };
  }, [got.data]);
  const d = got.data;
  return (
    <Panel title="Market: clearing price and volume per session" wide>
      <ProblemBox error={got.error} />
      {!d ? (
        <Loading what="the market's history" />
      ) : (
        <>
          <dl className="facts" data-testid="market-kpis">
            <dt>Sessions cleared</dt>
            <dd>{d.count} (the latest {d.data.length} shown)</dd>
            <dt>Volume shown</dt>
            <dd>{formatWh(d.volume_wh)}</dd>
            <dt>Mean price (by volume)</dt>
            <dd>{formatPrice(d.mean_price_per_kwh)}</dd>
          </dl>
          <TimeChart title="Clearing price and matched volume per session" times={chart.times} series={chart.series} unit="Wh" unitRight="ct/kWh" />
        </>
      )}
    </Panel>
  );
}

export function DsoPanel() {
  const { api, tick } = useApp();
  const got = useLoad(() => api.get<DsoDashboard>("/dashboards/dso", { limit: 100 }), [api, tick]);
  const chart = useMemo(() => {
    const rows = got.data?.intervals ?? [];
    const series: Series[] = [
      { label: "Requested (Wh)", values: rows.map((r) => r.requested_wh), color: "#7f8c8d", dash: [4, 4] },
      { label: "Delivered (Wh)", values: rows.map((r) => r.delivered_wh), color: "#1e6b3a" },
    ];
    return { times: rows.map((r) => r.interval_start_s), series };
  }, [got.data]);
  const d = got.data;
  return (
    <Panel title={d?.dso ? "DSO: my requests, delivered against requested" : "DSO: requests, delivered against requested"} wide>
      <ProblemBox error={got.error} />
      {!d ? (
        <Loading what="the requests' figures" />
      ) : (
        <>
          <dl className="facts" data-testid="dso-kpis">
            <dt>Success rate</dt>
            <dd data-testid="success-rate">
              {d.success_rate === null ? "– (none settled yet)" : `${Math.round(d.success_rate * 100)} %`} ({d.within_tolerance_count} of {d.settled_count} settled requests
              delivered within tolerance)
            </dd>
            <dt>Cost of flexibility</dt>
            <dd>
              {d.cost_per_kwh === null ? "–" : <Price perKwh={d.cost_per_kwh} />} (<Euro base={d.paid_total} /> for {formatWh(d.credited_wh_total)} credited)
            </dd>
          </dl>
          <TimeChart title="Requested and delivered per interval" times={chart.times} series={chart.series} unit="Wh" />
          <TableBox label="Requests: delivered against requested" file="dso-requests">
            <table data-testid="dso-requests">
              <caption className="sr-only">Requests, oldest first: delivered against requested and cost</caption>
              <thead>
                <tr>
                  <th scope="col">Request</th>
                  <th scope="col">Window</th>
                  <th scope="col">Status</th>
                  <th scope="col">Requested</th>
                  <th scope="col">Delivered</th>
                  <th scope="col">Within tolerance</th>
                  <th scope="col">Paid</th>
                  <th scope="col">Cost</th>
                </tr>
              </thead>
              <tbody>
                {d.requests.map((r) => (
                  <tr key={r.request_id}>
                    <td>#{r.request_id}</td>
                    <td>
                      <Time s={r.window_start_s} />
                    </td>
                    <td>{r.status}</td>
                    <td>
                      <Energy wh={r.requested_wh} />
                    </td>
                    <td>
                      <Energy wh={r.delivered_wh} />
                    </td>
                    <td>{r.within_tolerance === null ? "–" : r.within_tolerance ? "yes" : "no"}</td>
                    <td>
                      <Euro base={r.paid} />
                    </td>
                    <td>
                      <Price perKwh={r.cost_per_kwh} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        </>
      )}
    </Panel>
  );
}

export function OperatorPanel() {
  const { api, tick } = useApp();
  const got = useLoad(() => api.get<OperatorDashboard>("/dashboards/operator"), [api, tick]);
  const d = got.data;
  return (
    <Panel title="Platform health and key figures">
      <ProblemBox error={got.error} />
      {!d ? (
        <Loading what="the platform's health" />
      ) : (
        <>
          <dl className="facts" data-testid="health">
            <dt>Chain head</dt>
            <dd>{d.head_block ?? "no answer"}</dd>
            <dt>Indexed up to</dt>
            <dd>{d.indexed_block ?? "nothing yet"}</dd>
            <dt>Indexer lag</dt>
            <dd data-testid="lag">{d.lag_blocks === null ? "–" : `${d.lag_blocks} blocks`}</dd>
            <dt>Events per minute</dt>
            <dd>{d.events_per_minute === null ? "measured from the next refresh" : d.events_per_minute.toFixed(1)} ({d.events_indexed} indexed)</dd>
          </dl>
          <ul className="services" aria-label="Services">
            {d.services.map((s) => (
              <li key={s.name} className={s.ok ? "ok" : "bad"}>
                <strong>{s.name}</strong>: {s.ok ? "ok" : "problem"}, {s.detail}
              </li>
            ))}
          </ul>
          <dl className="facts" data-testid="kpis">
            <dt>Members (active prosumers)</dt>
            <dd>
              {d.members} of {d.participants} participants
            </dd>
            <dt>Sessions cleared</dt>
            <dd>{d.sessions_cleared}</dd>
            <dt>Volume traded</dt>
            <dd>{formatWh(d.volume_wh)}</dd>
            <dt>Requests settled</dt>
            <dd>
              {d.requests_settled} of {d.requests_published} published
            </dd>
            <dt>Gas spent</dt>
            <dd>{d.gas_spent === null ? "not in the read models (see below)" : d.gas_spent.toLocaleString("en-US")}</dd>
          </dl>
          <p className="muted small">{d.gas_note}</p>
        </>
      )}
    </Panel>
  );
}

export function MemberPanel() {
  const { api, tick, me } = useApp();
  const got = useLoad(() => api.get<MemberDashboard>(`/dashboards/members/${me!.address}`, { limit: 500 }), [api, tick, me]);
  const chart = useMemo(() => {
    const rows = got.data?.data ?? [];
    const series: Series[] = [
      { label: "Earned (€)", values: rows.map((r) => Number(r.earned) / EUR), color: "#1e6b3a", bars: true },
      { label: "Penalty (€)", values: rows.map((r) => -Number(r.penalty) / EUR), color: "#9b1c1c", bars: true },
      { label: "Reputation (points)", values: rows.map((r) => r.reputation), color: "#1f4e79", axis: "right" },
    ];
    return { times: rows.map((r) => r.time_s), series };
  }, [got.data]);
  const d = got.data;
  return (
    <Panel title="My earnings, penalties and reputation" wide>
      <ProblemBox error={got.error} />
      {!d ? (
        <Loading what="your earnings" />
      ) : (
        <>
          <dl className="facts" data-testid="member-kpis">
            <dt>Earned</dt>
            <dd>
              <Euro base={d.earned_total} />
            </dd>
            <dt>Penalties</dt>
            <dd>
              <Euro base={d.penalty_total} />
            </dd>
            <dt>Reputation</dt>
            <dd>{d.reputation} points</dd>
          </dl>
          <TimeChart title="Earnings and penalties per settled request or session, reputation" times={chart.times} series={chart.series} unit="€" unitRight="points" />
        </>
      )}
    </Panel>
  );
}
