// Member: open DSO flexibility requests, opt in (signed in the wallet), own coalition and
// targets vs delivered per interval, rewards, penalties, reputation.
import { useState, type FormEvent } from "react";
import { Field, Loading, NeedsLogin, Panel, ProblemBox, StatusLine } from "../components/ui";
import type { Page } from "../lib/api";
import { sendTx } from "../lib/chain";
import { Energy, Euro, Price, Time } from "../components/values";
import { TableBox } from "../components/TableBox";
import { formatEuro, formatWh, parseWhole } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { hasRole, useApp } from "../state";
import { RequestDetail } from "./RequestDetail";
import { STATUS_WORDS, type AccountCoordination, type FlexRequest } from "./common";

export default function RequestsPage() {
  const { me } = useApp();
  return (
    <>
      <h1>DSO flexibility requests</h1>
      {me ? <RequestsBody /> : <NeedsLogin role="a member" />}
    </>
  );
}

function RequestsBody() {
  const { api, tick, me } = useApp();
  const [chosen, setChosen] = useState<number | null>(null);
  const requests = useLoad(() => api.get<Page<FlexRequest>>("/requests", { limit: 20 }), [api, tick]);
  const list = requests.data?.data ?? [];
  const current = list.find((r) => r.request_id === chosen) ?? list[0];
  return (
    <div className="grid">
      <Panel title="Requests" wide>
        <ProblemBox error={requests.error} />
        {!requests.data ? (
          <Loading what="requests" />
        ) : list.length === 0 ? (
          <p>No flexibility request yet.</p>
        ) : (
          <RequestTable requests={list} selected={current?.request_id ?? null} onSelect={setChosen} />
        )}
      </Panel>
      {current && hasRole(me, "prosumer") && (
        <Panel title={`Opt in to request ${current.request_id}`}>
          <OptInForm request={current} />
        </Panel>
      )}
      <MyCoordination />
      {current && <RequestDetail request={current} />}
    </div>
  );
}

/** A request's status in words, on the chain's clock. */
export function requestStatusText(r: FlexRequest, chainNow: number | null): string {
  if (r.status === "open" && chainNow !== null && chainNow >= r.opt_in_deadline_s) {
    return chainNow >= r.window_start_s ? "no coalition (window started)" : "opt-ins closed, waiting for a coalition";
  }
  return STATUS_WORDS[r.status] ?? r.status;
}

export function RequestTable({ requests, selected, onSelect }: { requests: FlexRequest[]; selected: number | null; onSelect: (id: number) => void }) {
  const { chainNow } = useApp();
  return (
    <TableBox label="Requests" file="requests">
      <table data-testid="requests">
        <caption className="sr-only">Flexibility requests, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Request</th>
            <th scope="col">Area</th>
            <th scope="col">Status</th>
            <th scope="col">Window</th>
            <th scope="col">Per interval</th>
            <th scope="col">Opt-in deadline</th>
            <th scope="col">Price cap</th>
            <th scope="col">Opt-ins</th>
          </tr>
        </thead>
        <tbody>
          {requests.map((r) => (
            <tr key={r.request_id} className={r.request_id === selected ? "selected" : ""} data-request={r.request_id}>
              <th scope="row">
                <button type="button" className="link" aria-pressed={r.request_id === selected} onClick={() => onSelect(r.request_id)}>
                  #{r.request_id}
                </button>
              </th>
              <td>{r.grid_area || "any"}</td>
              <td data-testid="request-status">{requestStatusText(r, chainNow)}</td>
              <td>
                <Time s={r.window_start_s} />, {r.intervals} × 15 min ({r.direction === "up" ? "less load" : "more load"})
              </td>
              <td>
                <Energy wh={r.quantities_wh[0] ?? 0} />
              </td>
              <td>
                <Time s={r.opt_in_deadline_s} />
              </td>
              <td>
                <Price perKwh={r.price_cap_per_kwh} />
              </td>
              <td>{r.opt_in_count}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableBox>
  );
}

function OptInForm({ request }: { request: FlexRequest }) {
  const { cfg, wallet, chainNow, refresh } = useApp();
  const [maxWh, setMaxWh] = useState(String(Math.max(...request.quantities_wh, 1)));
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const open = request.status === "open" && (chainNow === null || chainNow < request.opt_in_deadline_s);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const wh = parseWhole(maxWh, "Your offer", 1, 2 ** 48 - 1);
      await sendTx(cfg, wallet!, { contract: "FlexCoordination", functionName: "optIn", args: [BigInt(request.request_id), BigInt(wh)] }, setStatus);
      setStatus(`You opted in to request ${request.request_id} with up to ${formatWh(wh)} per interval.`);
      refresh();
    } catch (err) {
      setStatus(null);
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} data-testid="optin-form">
      <p className="muted small">
        {open ? (
          <>
            Opt-ins close <Time s={request.opt_in_deadline_s} /> (chain time). The coalition is formed after that.
          </>
        ) : (
          "This request takes no opt-ins now."
        )}
      </p>
      <Field label="Most you offer per interval (Wh)">
        {(id) => <input id={id} inputMode="numeric" value={maxWh} onChange={(e) => setMaxWh(e.target.value)} />}
      </Field>
      <button type="submit" disabled={!open || !wallet || busy} data-testid="opt-in">
        Opt in
      </button>
      <StatusLine text={status} />
      <ProblemBox error={error} onDismiss={() => setError(null)} />
    </form>
  );
}

function MyCoordination() {
  const { cfg, api, me, wallet, tick, refresh } = useApp();
  const acct = useLoad(() => api.get<AccountCoordination>(`/accounts/${me!.address}/coordination`), [api, tick, me]);
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const claim = async () => {
    setError(null);
    try {
      await sendTx(cfg, wallet!, { contract: "FlexCoordination", functionName: "claimPayout", args: [] }, setStatus);
      setStatus("Your payouts were transferred to your wallet.");
      refresh();
    } catch (e) {
      setStatus(null);
      setError(e);
    }
  };
  const a = acct.data;
  return (
    <Panel title="My coalitions, rewards and reputation">
      <ProblemBox error={acct.error ?? error} onDismiss={() => setError(null)} />
      <StatusLine text={status} />
      {!a ? (
        !acct.error && <Loading what="your standing" />
      ) : (
        <>
          <dl className="facts" data-testid="standing">
            <dt>Rewards to claim</dt>
            <dd>
              <Euro base={a.claimable} />
            </dd>
            <dt>Earned in total</dt>
            <dd>
              <Euro base={a.earned_total} />
            </dd>
            <dt>Penalties not covered</dt>
            <dd>
              <Euro base={a.penalty_uncovered_total} />
            </dd>
            <dt>Reputation</dt>
            <dd data-testid="reputation">{a.reputation} points ({a.settled_count} settled, {a.opt_in_count} opt-ins)</dd>
          </dl>
          {BigInt(a.claimable) > 0n && (
            <button type="button" onClick={claim} disabled={!wallet}>
              Claim {formatEuro(a.claimable)}
            </button>
          )}
          {a.requests.length === 0 ? (
            <p>You have not opted in to a request yet.</p>
          ) : (
            a.requests.map((r) => (
              <div key={r.request_id} className="myrequest" data-testid={`my-request-${r.request_id}`}>
                <h3>
                  Request #{r.request_id}: {STATUS_WORDS[r.request_status] ?? r.request_status}; you are{" "}
                  <span data-testid="my-optin-status">{r.in_coalition ? "in the coalition" : r.opt_in_status === "reserve" ? "a reserve" : r.opt_in_status === "replaced" ? "replaced" : "opted in"}</span>{" "}
                  (up to {formatWh(r.max_wh)})
                </h3>
                {r.targets_wh && (
                  <TableBox label={`Your targets and deliveries, request ${r.request_id}`} file={`my-targets-${r.request_id}`}>
                  <table data-testid={`my-targets-${r.request_id}`}>
                    <caption>Your targets and deliveries per interval</caption>
                    <thead>
                      <tr>
                        <th scope="col">Interval</th>
                        <th scope="col">Target</th>
                        <th scope="col">Delivered</th>
                        <th scope="col">Credited</th>
                      </tr>
                    </thead>
                    <tbody>
                      {r.targets_wh.map((t, k) => (
                        <tr key={k}>
                          <td>
                            <Time s={r.window_start_s + k * cfg.interval_s} />
                          </td>
                          <td>
                            <Energy wh={t} />
                          </td>
                          <td>
                            <Energy wh={r.delivered_wh ? r.delivered_wh[k] : null} />
                          </td>
                          <td>
                            <Energy wh={r.credited_wh ? r.credited_wh[k] : null} />
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                  </TableBox>
                )}
                {r.payout !== null && (
                  <p>
                    Payout {formatEuro(r.payout)}
                    {r.penalty_uncovered && BigInt(r.penalty_uncovered) > 0n ? `, penalty not covered ${formatEuro(r.penalty_uncovered)}` : ""}
                    {r.points !== null ? `, ${r.points} reputation points` : ""}
                  </p>
                )}
              </div>
            ))
          )}
        </>
      )}
    </Panel>
  );
}
