// DSO: publish a flexibility request (approve the escrow, then publishRequest, both signed in
// the wallet), watch coalitions form and deliver, accept them, see settlement.
import { useState, type FormEvent } from "react";
import { Field, Loading, NeedsLogin, Panel, ProblemBox, StatusLine } from "../components/ui";
import type { Page } from "../lib/api";
import { parseEventLogs } from "viem";
import { sendTx } from "../lib/chain";
import { formatTime, formatTokens, parseTokens, parseWhole, textToBytes32 } from "../lib/format";
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
      <Panel title="My requests">
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
  const [area, setArea] = useState("feeder-1");
  const [direction, setDirection] = useState<"0" | "1">("0");
  const [startsIn, setStartsIn] = useState("120");
  const [deadlineIn, setDeadlineIn] = useState("60");
  const [intervals, setIntervals] = useState("4");
  const [qty, setQty] = useState("2000");
  const [tolerance, setTolerance] = useState("10");
  const [cap, setCap] = useState("0.20");
  const [penalty, setPenalty] = useState("0.05");
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  let escrowText = "–";
  try {
    escrowText = `${formatTokens(requiredEscrow(Array(Number(intervals) || 0).fill(Number(qty) || 0), Math.round(Number(tolerance) * 100) || 0, parseTokens(cap)))} FLEX`;
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
      const capBase = parseTokens(cap);
      const penaltyBase = parseTokens(penalty);
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
      setStatus(`Request ${pub?.args.requestId ?? "?"} published: ${n} × 15 min from ${formatTime(windowStart)}, opt-ins until ${formatTime(deadline)}, ${formatTokens(escrow)} FLEX in escrow.`);
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
      <Field label="Price cap (FLEX per kWh)">{(id) => <input id={id} inputMode="decimal" value={cap} onChange={(e) => setCap(e.target.value)} />}</Field>
      <Field label="Penalty (FLEX per kWh short)">{(id) => <input id={id} inputMode="decimal" value={penalty} onChange={(e) => setPenalty(e.target.value)} />}</Field>
      <p className="wide">
        Escrow needed: <strong data-testid="escrow">{escrowText}</strong> (approved, then locked by the contract until settlement)
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
