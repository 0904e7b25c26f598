// Market operator / aggregator: sessions overview with clearing results, open a session
// (operator), members, household cluster report.
import { useState, type FormEvent } from "react";
import { Field, Loading, NeedsLogin, Panel, ProblemBox, StatusLine } from "../components/ui";
import { ApiError, type Page, type Participant, type SessionSummary } from "../lib/api";
import { parseEventLogs } from "viem";
import { sendTx } from "../lib/chain";
import { formatEuro, formatPrice, formatTime, parseWhole, textToBytes32 } from "../lib/format";
import { TableBox } from "../components/TableBox";
import { Energy, Price, Time, Who } from "../components/values";
import { useLoad } from "../lib/hooks";
import { ROLE_LABELS } from "../lib/session";
import { hasRole, useApp } from "../state";

export default function OperatorPage() {
  const { me } = useApp();
  return (
    <>
      <h1>Operator and aggregator</h1>
      {me ? <OperatorBody /> : <NeedsLogin role="the market operator or an aggregator" />}
    </>
  );
}

function OperatorBody() {
  const { api, tick, me } = useApp();
  const summary = useLoad(() => api.get<Page<SessionSummary>>("/matches/summary", { limit: 30 }), [api, tick]);
  const members = useLoad(() => api.get<Page<Participant>>("/participants", { limit: 200 }), [api]);
  return (
    <div className="grid">
      {hasRole(me, "market-operator") && (
        <Panel title="Open a session">
          <OpenSession />
        </Panel>
      )}
      <Panel title="Sessions and clearing results" wide>
        <ProblemBox error={summary.error} />
        {!summary.data ? (
          <Loading what="sessions" />
        ) : (
          <TableBox label="Sessions and clearing results" file="session-summary">
            <table data-testid="session-summary">
              <caption className="sr-only">Clearing results per session, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Session</th>
                  <th scope="col">Delivery</th>
                  <th scope="col">Area</th>
                  <th scope="col">Matches</th>
                  <th scope="col">Volume</th>
                  <th scope="col">Prices</th>
                  <th scope="col">Mean price</th>
                </tr>
              </thead>
              <tbody>
                {summary.data.data.map((s) => (
                  <tr key={s.session_id}>
                    <td>#{s.session_id}</td>
                    <td>
                      <Time s={s.delivery_start_s} />
                    </td>
                    <td>{s.grid_area || "all"}</td>
                    <td>{s.match_count}</td>
                    <td>
                      <Energy wh={s.volume_wh} />
                    </td>
                    <td>
                      <Price perKwh={s.min_price_per_kwh} /> – <Price perKwh={s.max_price_per_kwh} />
                    </td>
                    <td>
                      <Price perKwh={s.avg_price_per_kwh} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        )}
      </Panel>
      <Panel title="Members">
        <ProblemBox error={members.error} />
        {!members.data ? (
          <Loading what="members" />
        ) : (
          <TableBox label="Members" file="members">
            <table data-testid="members">
              <caption className="sr-only">Registered participants</caption>
              <thead>
                <tr>
                  <th scope="col">Account</th>
                  <th scope="col">Role</th>
                  <th scope="col">Area</th>
                  <th scope="col">Meter</th>
                  <th scope="col">Active</th>
                </tr>
              </thead>
              <tbody>
                {members.data.data.map((p) => (
                  <tr key={p.account}>
                    <td>
                      <Who address={p.account} name={p.display_name} />
                    </td>
                    <td>{ROLE_LABELS[p.role] ?? p.role}</td>
                    <td>{p.grid_area}</td>
                    <td>{p.meter_id ?? "–"}</td>
                    <td>{p.active ? "yes" : "no"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        )}
      </Panel>
      <Clusters />
    </div>
  );
}

function OpenSession() {
  const { cfg, wallet, chainNow, refresh } = useApp();
  const [startsIn, setStartsIn] = useState("120");
  const [gateLead, setGateLead] = useState("5");
  const [rule, setRule] = useState("0");
  const [area, setArea] = useState("");
  const [sealed, setSealed] = useState(false);
  const [revealWindow, setRevealWindow] = useState("5");
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      if (chainNow === null) throw new Error("the chain's clock is not known yet");
      const t = chainNow + parseWhole(startsIn, "Delivery starts in", 1, 60 * 24 * 30) * 60;
      const start = Math.ceil(t / cfg.interval_s) * cfg.interval_s;
      const gate = start - parseWhole(gateLead, "Gate closure lead", 1, 24 * 60) * 60;
      const reveal = sealed ? gate + parseWhole(revealWindow, "Reveal window", 1, 24 * 60) * 60 : 0;
      if (sealed && reveal > start) throw new Error("The reveal window must end by the delivery start: make it at most the gate's lead");
      // The settlement terms: 10 % tolerance, a penalty of 0.05 FLEX per kWh short (offers
      // bond their quantity at it), an order bond of 0.1 FLEX, the hour's meter-before baseline
      // of one interval, settlement one interval after the delivery (time for the meter data).
      const args = [
        {
          deliveryStart: BigInt(start),
          durationS: cfg.interval_s,
          gateClosure: BigInt(gate),
          revealDeadline: BigInt(reveal),
          product: 0,
          rule: Number(rule),
          sealedBids: sealed,
          gridArea: area ? textToBytes32(area) : `0x${"00".repeat(32)}`,
          toleranceBp: 1000,
          penaltyPerKwh: 50_000,
          orderBond: 100_000n,
          baselineIntervals: 1,
          baselineGapIntervals: 0,
          settleDelayS: cfg.interval_s,
        },
      ];
      const r = await sendTx(cfg, wallet!, { contract: "FlexMarket", functionName: "openSession", args }, setStatus);
      const [opened] = parseEventLogs({ abi: cfg.abis.FlexMarket, logs: r.logs, eventName: "SessionOpened" }) as unknown as { args: { sessionId: bigint } }[];
      setStatus(`Session ${opened?.args.sessionId ?? "?"} opened: delivery ${formatTime(start)}, gate closes ${formatTime(gate)}.`);
      refresh();
    } catch (err) {
      setStatus(null);
      setError(err);
    }
  };
  return (
    <form onSubmit={submit} className="cols" data-testid="open-session">
      <Field label="Delivery starts in (minutes, chain time)">{(id) => <input id={id} inputMode="numeric" value={startsIn} onChange={(e) => setStartsIn(e.target.value)} />}</Field>
      <Field label="Gate closes before delivery (minutes)">{(id) => <input id={id} inputMode="numeric" value={gateLead} onChange={(e) => setGateLead(e.target.value)} />}</Field>
      <Field label="Pricing rule">
        {(id) => (
          <select id={id} value={rule} onChange={(e) => setRule(e.target.value)}>
            <option value="0">Uniform (pay as clear)</option>
            <option value="1">Pay as bid</option>
            <option value="2">Cooperative</option>
          </select>
        )}
      </Field>
      <Field label="Grid area">
        {(id) => (
          <select id={id} value={area} onChange={(e) => setArea(e.target.value)}>
            <option value="">all areas</option>
            <option value="feeder-1">feeder-1</option>
            <option value="feeder-2">feeder-2</option>
          </select>
        )}
      </Field>
      <div className="field">
        <label>
          <input type="checkbox" checked={sealed} onChange={(e) => setSealed(e.target.checked)} /> Sealed bids (commit, then reveal)
        </label>
      </div>
      {sealed && <Field label="Reveal window after the gate (minutes)">{(id) => <input id={id} inputMode="numeric" value={revealWindow} onChange={(e) => setRevealWindow(e.target.value)} />}</Field>}
      <p className="wide hint">
        Trades settle on delivery: sellers are paid for what their meters show they delivered,
        with a 10 % tolerance and a penalty of {formatPrice(50_000)} short; every order locks a {formatEuro(100_000)}
        bond until it is cleared, cancelled or settled.
      </p>
      <button type="submit" className="wide" disabled={!wallet}>
        Open session
      </button>
      <div className="wide">
        <StatusLine text={status} />
        <ProblemBox error={error} onDismiss={() => setError(null)} />
      </div>
    </form>
  );
}

interface ClusterRow {
  cluster: number;
  size: number;
  silhouette: number | null;
  suppressed: boolean;
  centroid_profile: (number | null)[] | null;
}
interface ClustersSummary {
  created_at_s: number;
  method: string;
  metric: string;
  k: number;
  households: number;
  silhouette: number | null;
  clusters: ClusterRow[];
}

/** The local hour at which a cluster's mean daily profile peaks. */
export function peakHour(profile: (number | null)[] | null): number | null {
  if (!profile?.length) return null;
  let best = -1;
  let at: number | null = null;
  profile.forEach((v, h) => {
    if (v !== null && v > best) {
      best = v;
      at = h;
    }
  });
  return at;
}

function Clusters() {
  const { api, tick } = useApp();
  const clusters = useLoad(() => api.get<ClustersSummary>("/clusters"), [api, tick]);
  const [report, setReport] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const loadReport = async () => {
    setError(null);
    try {
      const r = await api.get<unknown>("/clusters/report");
      setReport(typeof r === "string" ? r : JSON.stringify(r));
    } catch (e) {
      setError(e);
    }
  };
  const c = clusters.data;
  const missing = clusters.error instanceof ApiError && clusters.error.status === 404;
  return (
    <Panel title="Household clusters">
      {missing ? (
        <p className="notice">No clustering result yet: run <code>bright analytics cluster</code>.</p>
      ) : (
        <ProblemBox error={clusters.error} />
      )}
      {c && (
        <>
          <p className="muted small">
            {c.households} households in {c.k} clusters ({c.method}, {c.metric}), mean silhouette{" "}
            {c.silhouette === null ? "–" : c.silhouette.toFixed(2)}, computed <Time s={c.created_at_s} />.
          </p>
          <TableBox label="Clusters" file="clusters">
            <table data-testid="clusters">
              <caption className="sr-only">Clusters: sizes and daily peaks (no household is named)</caption>
              <thead>
                <tr>
                  <th scope="col">Cluster</th>
                  <th scope="col">Households</th>
                  <th scope="col">Silhouette</th>
                  <th scope="col">Daily peak</th>
                </tr>
              </thead>
              <tbody>
                {c.clusters.map((k) => {
                  const peak = peakHour(k.centroid_profile);
                  return (
                    <tr key={k.cluster}>
                      <td>{k.cluster}</td>
                      <td>{k.size}</td>
                      <td>{k.silhouette === null ? "–" : k.silhouette.toFixed(2)}</td>
                      <td>{k.suppressed ? "not shown (small cluster)" : peak === null ? "–" : `${peak}:00`}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </TableBox>
          <button type="button" onClick={loadReport}>
            Show cluster report
          </button>
        </>
      )}
      <ProblemBox error={error} />
      {report && <iframe className="report" title="Cluster report" sandbox="" srcDoc={report} data-testid="cluster-report" />}
    </Panel>
  );
}
