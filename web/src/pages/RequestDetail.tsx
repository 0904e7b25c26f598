// One request: per interval requested vs the coalition's targets vs delivered, and the
// coalition rows visible to the viewer (a member: its own; the DSO and coordinators: all).
import { Loading, Panel, ProblemBox } from "../components/ui";
import { TableBox } from "../components/TableBox";
import { Energy, Euro, Price, Time, Who } from "../components/values";
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
    <Panel title={`Request ${id}: per interval`} wide>
      <p className="muted small">
        DSO <Who address={request.dso} name={request.dso_name} />
        {request.coordinator && (
          <>
            {" "}
            · coordinator <Who address={request.coordinator} name={request.coordinator_name} />
          </>
        )}{" "}
        · escrow <Euro base={request.escrow} /> · tolerance {request.tolerance_bp / 100} % · cap <Price perKwh={request.price_cap_per_kwh} /> · penalty{" "}
        <Price perKwh={request.penalty_per_kwh} />
        {request.price_per_kwh !== null && (
          <>
            {" "}
            · coalition price <Price perKwh={request.price_per_kwh} />
          </>
        )}
        {request.settlement_state === "proposed" && (
          <>
            {" "}
            · settlement proposed: <Euro base={request.proposed_payout_total ?? "0"} /> to members, open to disputes until <Time s={request.challenge_ends_s} />
            {request.dispute_count ? ` (${request.dispute_count} corrected by disputes)` : ""}
          </>
        )}
        {request.payout_total !== null && (
          <>
            {" "}
            · paid <Euro base={request.payout_total} />
          </>
        )}
        {request.refund !== null && (
          <>
            {" "}
            · refunded <Euro base={request.refund} />
          </>
        )}
      </p>
      {request.outcome_reason && (
        <p className="notice" data-testid="outcome-reason">
          Why: {request.outcome_reason}
        </p>
      )}
      <ProblemBox error={intervals.error} />
      {!intervals.data ? (
        <Loading what="the intervals" />
      ) : (
        <TableBox label={`Request ${id}: requested, targets and delivered per interval`} file={`request-${id}-intervals`}>
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
                  <td>
                    <Time s={k.interval_start_s} />
                  </td>
                  <td>
                    <Energy wh={k.requested_wh} />
                  </td>
                  <td>
                    <Energy wh={k.lower_wh} /> – <Energy wh={k.upper_wh} />
                  </td>
                  <td>
                    <Energy wh={k.target_wh} />
                  </td>
                  <td>
                    <Energy wh={k.delivered_wh} />
                  </td>
                  <td>{k.within_tolerance === null ? "–" : k.within_tolerance ? "yes" : "no"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableBox>
      )}
      <ProblemBox error={coalition.error} />
      {coalition.data && (
        <TableBox label={`Request ${id}: coalition`} file={`request-${id}-coalition`}>
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
                {coalition.data.rows.some((r) => r.explanation) && <th scope="col">Why</th>}
              </tr>
            </thead>
            <tbody>
              {coalition.data.rows.map((r) => (
                <tr key={`${r.member}-${r.status}`}>
                  <td>
                    <Who address={r.member} name={r.member_name} />
                  </td>
                  <td>{r.status}</td>
                  <td>
                    <Energy wh={r.target_total_wh} />
                  </td>
                  <td>
                    <Energy wh={r.delivered_total_wh} />
                  </td>
                  <td>
                    <Euro base={r.payout} />
                  </td>
                  <td>{r.points ?? "–"}</td>
                  {coalition.data!.rows.some((x) => x.explanation) && <td data-testid="explanation">{r.explanation ?? ""}</td>}
                </tr>
              ))}
            </tbody>
          </table>
        </TableBox>
      )}
    </Panel>
  );
}
