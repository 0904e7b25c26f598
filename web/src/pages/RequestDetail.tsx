// One request: per interval requested vs the coalition's targets vs delivered, and the
// coalition rows visible to the viewer (a member: its own; the DSO and coordinators: all).
import { Loading, Panel, ProblemBox } from "../components/ui";
import { formatPrice, formatTime, formatTokens, formatWh, shortAddress } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { useApp } from "../state";
import type { Coalition, FlexRequest, RequestInterval } from "./common";

export function RequestDetail({ request }: { request: FlexRequest }) {
  const { api, tick } = useApp();
  const id = request.request_id;
  const intervals = useLoad(() => api.get<{ data: RequestInterval[] }>(`/requests/${id}/intervals`), [api, tick, id]);
  const coalition = useLoad(
    () => (request.status === "open" ? Promise.resolve(null) : api.get<Coalition>(`/requests/${id}/coalition`)),
    [api, tick, id, request.status],
  );
  return (
    <Panel title={`Request ${id}: per interval`}>
      <p className="muted small">
        Escrow {formatTokens(request.escrow)} FLEX · tolerance {request.tolerance_bp / 100} % · cap {formatPrice(request.price_cap_per_kwh)} · penalty{" "}
        {formatPrice(request.penalty_per_kwh)}
        {request.price_per_kwh !== null && <> · coalition price {formatPrice(request.price_per_kwh)}</>}
        {request.settlement_state === "proposed" && (
          <>
            {" "}
            · settlement proposed: {formatTokens(request.proposed_payout_total ?? "0")} FLEX to members, open to disputes until{" "}
            {formatTime(request.challenge_ends_s)}
            {request.dispute_count ? ` (${request.dispute_count} corrected by disputes)` : ""}
          </>
        )}
        {request.payout_total !== null && <> · paid {formatTokens(request.payout_total)} FLEX</>}
        {request.refund !== null && <> · refunded {formatTokens(request.refund)} FLEX</>}
      </p>
      <ProblemBox error={intervals.error} />
      {!intervals.data ? (
        <Loading what="the intervals" />
      ) : (
        <div className="scroll" tabIndex={0} role="region" aria-label="Requested, targets and delivered per interval (table)">
          <table data-testid="request-intervals">
            <caption className="sr-only">Requested, targets and delivered per interval</caption>
            <thead>
              <tr>
                <th scope="col">Interval</th>
                <th scope="col">Requested</th>
                <th scope="col">Accepted range</th>
                <th scope="col">Coalition targets</th>
                <th scope="col">Delivered</th>
                <th scope="col">Within tolerance</th>
              </tr>
            </thead>
            <tbody>
              {intervals.data.data.map((k) => (
                <tr key={k.interval_index}>
                  <td>{formatTime(k.interval_start_s)}</td>
                  <td>{formatWh(k.requested_wh)}</td>
                  <td>
                    {formatWh(k.lower_wh)} – {formatWh(k.upper_wh)}
                  </td>
                  <td>{formatWh(k.target_wh)}</td>
                  <td>{k.delivered_wh === null ? "–" : formatWh(k.delivered_wh)}</td>
                  <td>{k.within_tolerance === null ? "–" : k.within_tolerance ? "yes" : "no"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ProblemBox error={coalition.error} />
      {coalition.data && (
        <div className="scroll" tabIndex={0} role="region" aria-label="Coalition (table)">
          <table data-testid="coalition">
            <caption>
              Coalition (round {coalition.data.round}, {coalition.data.member_count} members
              {coalition.data.visible === "own" ? "; you see your own row" : ""})
            </caption>
            <thead>
              <tr>
                <th scope="col">Member</th>
                <th scope="col">Status</th>
                <th scope="col">Target total</th>
                <th scope="col">Delivered</th>
                <th scope="col">Payout</th>
                <th scope="col">Points</th>
              </tr>
            </thead>
            <tbody>
              {coalition.data.rows.map((r) => (
                <tr key={`${r.member}-${r.status}`}>
                  <td title={r.member}>{shortAddress(r.member)}</td>
                  <td>{r.status}</td>
                  <td>{formatWh(r.target_total_wh)}</td>
                  <td>{r.delivered_total_wh === null ? "–" : formatWh(r.delivered_total_wh)}</td>
                  <td>{r.payout === null ? "–" : `${formatTokens(r.payout)} FLEX`}</td>
                  <td>{r.points ?? "–"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}
