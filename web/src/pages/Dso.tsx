// DSO: publish a flexibility request (approve the escrow, then publishRequest, both signed in
// the wallet), watch coalitions form and deliver, accept them, see settlement.
import { useState, type FormEvent } from "react";
import { Field, Loading, NeedsLogin, Panel, ProblemBox, StatusLine } from "../components/ui";
import type { Page } from "../lib/api";
import { parseEventLogs } from "viem";
import { sendTx } from "../lib/chain";
import { formatEuro, formatTime, parseCtPerKwh, parseWhole, textToBytes32 } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { hasRole, useApp } from "../state";
import { RequestDetail } from "./RequestDetail";
import { RequestTable } from "./Requests";
import type { FlexRequest } from "./common";

const BP = 10_000n;

/** The least escrow a request needs: sum over intervals of cap * upper(q) / 1000 (the
 * contract's integer arithmetic). */
export function requiredEscrow(quantitiesWh: number[], toleranceBp: number, capPerKwh: bigint): bigint {
  let total = 0n;
  for (const q of quantitiesWh) total += (capPerKwh * ((BigInt(q) * (BP + BigInt(toleranceBp))) / BP)) / 1000n;
  return total;
}

/** A window start on the 15-minute grid at least `minutes` after `now` (chain time). */
export function windowStartAfter(nowS: number, minutes: number, intervalS = 900): number {
  const t = nowS + minutes * 60;
  return Math.ceil(t / intervalS) * intervalS;
}

/** The form's defaults: the README's request by hand ("Flexibility requests in the demo").
 *  One home is asked at most 60 % of its recent metered import per interval and the demo
 *  homes import a few hundred Wh, so 100 Wh per interval fits one home; with the market on,
 *  chain time runs more than 100 times faster than the wall clock, so the opt-ins close
 *  several intervals ahead (3 h of chain time: about a minute of wall time at one session
 *  every 5 s) to leave time to opt in by hand as home-01 or home-10. */
export const BY_HAND = {
  area: "feeder-1",
  startsInMin: "240",
  deadlineInMin: "180",
  intervals: "2",
  qtyWh: "100",
  tolerancePct: "10",
  capCtPerKwh: "20",
  penaltyCtPerKwh: "5",
} as const;

export default function DsoPage() {
  const { me } = useApp();
  return (
    <>
      <h1>DSO: flexibility requests</h1>
      {!me ? <NeedsLogin role="the DSO" /> : !hasRole(me, "dso") ? <p className="notice">Log in with the DSO's wallet to publish requests.</p> : <DsoBody />}
    </>
  );
}

function DsoBody() {
  const { api, tick, me } = useApp();
  const [chosen, setChosen] = useState<number | null>(null);
  const mine = useLoad(() => api.get<Page<FlexRequest>>("/requests", { dso: me!.address, limit: 20 }), [api, tick, me]);
  const list = mine.data?.data ?? [];
  const current = list.find((r) => r.request_id === chosen) ?? list[0];
  return (
    <div className="grid">
      <Panel title="Publish a request">
        <CreateRequest />
      </Panel>
      <Panel title="My requests" wide>
        <ProblemBox error={mine.error} />
        {!mine.data ? <Loading what="your requests" /> : list.length === 0 ? <p>You have published no request yet.</p> : <RequestTable requests={list} selected={current?.request_id ?? null} onSelect={setChosen} />}
        {current && <RequestActions request={current} />}
      </Panel>
      {current && <RequestDetail request={current} />}
    </div>
  );
}

function CreateRequest() {
  const { cfg, wallet, chainNow, refresh } = useApp();
  const [area, setArea] = useState<string>(BY_HAND.area);
  const [direction, setDirection] = useState<"0" | "1">("0");
  const [startsIn, setStartsIn] = useState<string>(BY_HAND.startsInMin);
  const [deadlineIn, setDeadlineIn] = useState<string>(BY_HAND.deadlineInMin);
  const [intervals, setIntervals] = useState<string>(BY_HAND.intervals);
  const [qty, setQty] = useState<string>(BY_HAND.qtyWh);
  const [tolerance, setTolerance] = useState<string>(BY_HAND.tolerancePct);
  const [cap, setCap] = useState<string>(BY_HAND.capCtPerKwh);
  const [penalty, setPenalty] = useState<string>(BY_HAND.penaltyCtPerKwh);
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  let escrowText = "–";
  try {
    escrowText = formatEuro(requiredEscrow(Array(Number(intervals) || 0).fill(Number(qty) || 0), Math.round(Number(tolerance) * 100) || 0, parseCtPerKwh(cap)));
  } catch {
    /* shown once the inputs are valid */
  }

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      if (chainNow === null) throw new Error("the chain's clock is not known yet; try again in a moment");
      const n = parseWhole(intervals, "Intervals", 1, 96);
      const q = parseWhole(qty, "Quantity per interval", 1, 2 ** 32 - 1);
      const tolBp = Math.round(Number(tolerance) * 100);
      if (!(tolBp >= 0 && tolBp < 10_000)) throw new Error("Tolerance must be between 0 and 99.99 %");
      const capBase = parseCtPerKwh(cap);
      const penaltyBase = parseCtPerKwh(penalty);
      const windowStart = windowStartAfter(chainNow, parseWhole(startsIn, "Starts in", 1, 60 * 24 * 30));
      const deadline = chainNow + parseWhole(deadlineIn, "Opt-in deadline", 1, 60 * 24 * 30) * 60;
      if (deadline > windowStart) throw new Error("The opt-in deadline must come before the window starts");
      const quantities = Array(n).fill(q) as number[];
      const escrow = requiredEscrow(quantities, tolBp, capBase);
      await sendTx(cfg, wallet!, { contract: "FlexToken", functionName: "approve", args: [cfg.contracts.FlexCoordination, escrow] }, setStatus);
      const params = {
        gridArea: area ? textToBytes32(area) : `0x${"00".repeat(32)}`,
        windowStart: BigInt(windowStart),
        optInDeadline: BigInt(deadline),
        direction: Number(direction),
        toleranceBp: tolBp,
        priceCapPerKwh: capBase,
        penaltyPerKwh: penaltyBase,
        // Meter before / after over the hour before the window: the one baseline the contract
        // recomputes when a settlement is disputed (a zero hash: the contract fills it in).
        baselineMethod: 4,
        baselineHash: `0x${"00".repeat(32)}`,
        escrow,
        baselineIntervals: 4,
        baselineGapIntervals: 0,
      };
      const r = await sendTx(cfg, wallet!, { contract: "FlexCoordination", functionName: "publishRequest", args: [params, quantities] }, setStatus);
      const [pub] = parseEventLogs({ abi: cfg.abis.FlexCoordination, logs: r.logs, eventName: "RequestPublished" }) as unknown as { args: { requestId: bigint } }[];
      setStatus(`Request ${pub?.args.requestId ?? "?"} published: ${n} × 15 min from ${formatTime(windowStart)}, opt-ins until ${formatTime(deadline)}, ${formatEuro(escrow)} in escrow.`);
      refresh();
    } catch (err) {
      setStatus(null);
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} data-testid="request-form" className="cols">
      <p className="wide hint" id="by-hand-hint">
        The defaults are the README's request by hand: 100 Wh per interval fits one demo home (at most 60 % of its recent
        import); chain time runs over 100 times faster than the wall clock while the market trades, so opt-ins close 3 h of
        chain time ahead (about a minute): opt in as home-01 (feeder-1) or home-10 (feeder-2) before then.
      </p>
      <Field label="Grid area">
        {(id) => (
          <select id={id} value={area} onChange={(e) => setArea(e.target.value)}>
            <option value="feeder-1">feeder-1</option>
            <option value="feeder-2">feeder-2</option>
            <option value="">any area</option>
          </select>
        )}
      </Field>
      <Field label="Direction">
        {(id) => (
          <select id={id} value={direction} onChange={(e) => setDirection(e.target.value as "0" | "1")}>
            <option value="0">Up: less load</option>
            <option value="1">Down: more load</option>
          </select>
        )}
      </Field>
      <Field label="Window starts in (minutes, chain time)">{(id) => <input id={id} inputMode="numeric" value={startsIn} onChange={(e) => setStartsIn(e.target.value)} />}</Field>
      <Field label="Opt-ins close in (minutes, chain time)">{(id) => <input id={id} inputMode="numeric" value={deadlineIn} onChange={(e) => setDeadlineIn(e.target.value)} />}</Field>
      <Field label="Intervals (15 min each)">{(id) => <input id={id} inputMode="numeric" value={intervals} onChange={(e) => setIntervals(e.target.value)} />}</Field>
      <Field label="Flexibility per interval (Wh)">{(id) => <input id={id} inputMode="numeric" value={qty} onChange={(e) => setQty(e.target.value)} />}</Field>
      <Field label="Tolerance (%)">{(id) => <input id={id} inputMode="decimal" value={tolerance} onChange={(e) => setTolerance(e.target.value)} />}</Field>
      <Field label="Price cap (euro cents per kWh)">{(id) => <input id={id} inputMode="decimal" value={cap} onChange={(e) => setCap(e.target.value)} />}</Field>
      <Field label="Penalty (euro cents per kWh short)">{(id) => <input id={id} inputMode="decimal" value={penalty} onChange={(e) => setPenalty(e.target.value)} />}</Field>
      <p className="wide">
        Escrow needed: <strong data-testid="escrow">{escrowText}</strong> (approved in FLEX, 1 FLEX = 1 euro, then locked by the contract until settlement)
      </p>
      <button type="submit" className="wide" disabled={!wallet || busy} data-testid="publish-request">
        Approve escrow and publish
      </button>
      <div className="wide">
        <StatusLine text={status} />
        <ProblemBox error={error} onDismiss={() => setError(null)} />
      </div>
    </form>
  );
}

function RequestActions({ request }: { request: FlexRequest }) {
  const { cfg, wallet, chainNow, refresh } = useApp();
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const act = async (fn: string, done: string) => {
    setError(null);
    try {
      await sendTx(cfg, wallet!, { contract: "FlexCoordination", functionName: fn, args: [BigInt(request.request_id)] }, setStatus);
      setStatus(done);
      refresh();
    } catch (e) {
      setStatus(null);
      setError(e);
    }
  };
  const started = chainNow !== null && chainNow >= request.window_start_s;
  return (
    <div className="actions">
      {request.status === "proposed" && (
        <>
          <button type="button" onClick={() => act("acceptCoalition", `Coalition of request ${request.request_id} accepted.`)}>
            Accept coalition of #{request.request_id}
          </button>
          <button type="button" onClick={() => act("rejectCoalition", `Coalition of request ${request.request_id} rejected; a new round starts.`)}>
            Reject coalition
          </button>
        </>
      )}
      {(request.status === "open" || request.status === "proposed") && started && (
        <button type="button" onClick={() => act("reclaimEscrow", `Escrow of request ${request.request_id} reclaimed.`)}>
          Reclaim escrow of #{request.request_id}
        </button>
      )}
      <StatusLine text={status} />
      <ProblemBox error={error} onDismiss={() => setError(null)} />
    </div>
  );
}
