// Market: sessions, order-book depth, clearing results, live updates; place and cancel bids
// and offers signed in the wallet; own orders, matches and balances.
import { useEffect, useState, type FormEvent } from "react";
import { Field, Loading, NeedsLogin, Panel, ProblemBox, StatusLine } from "../components/ui";
import { Energy, Euro, Price, Time } from "../components/values";
import { TableBox } from "../components/TableBox";
import type { Balance, Depth, Match, Order, Page, Session, TradeSettlement } from "../lib/api";
import { readContract, sendTx } from "../lib/chain";
import { proofOf, readBook } from "../lib/book";
import { loadSealed, newSalt, orderCommitment, saveSealed, type SealedOrder } from "../lib/sealed";
import { formatEuro, formatFlex, formatPrice, formatTime, formatWh, parseCtPerKwh, parseTokens, parseWhole } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { useApp } from "../state";

const MAX_QTY_WH = 1_000_000_000;

export function gateOpen(s: Session | undefined, chainNow: number | null): boolean {
  if (!s || s.status !== "open" || s.sealed_bids) return false;
  return chainNow === null || chainNow < s.gate_closure_s;
}

export type Phase = "open" | "commit" | "reveal" | "closed";

/** What a session takes now: direct orders, sealed commitments, reveals, or nothing. */
export function phaseOf(s: Session | undefined, chainNow: number | null): Phase {
  if (!s || s.status !== "open") return "closed";
  const now = chainNow ?? 0;
  if (!s.sealed_bids) return now < s.gate_closure_s ? "open" : "closed";
  if (now < s.gate_closure_s) return "commit";
  return now < s.reveal_deadline_s ? "reveal" : "closed";
}

export function pickSession(sessions: Session[], chainNow: number | null, chosen: number | null): Session | undefined {
  if (chosen !== null) {
    const s = sessions.find((x) => x.session_id === chosen);
    if (s) return s;
  }
  return sessions.find((s) => phaseOf(s, chainNow) !== "closed") ?? sessions[0];
}

export function MarketPage() {
  const { me } = useApp();
  return (
    <>
      <h1>Market</h1>
      {me ? <MarketBody /> : <NeedsLogin />}
    </>
  );
}

function MarketBody() {
  const { api, tick, chainNow } = useApp();
  const [chosen, setChosen] = useState<number | null>(null);
  const sessions = useLoad(() => api.get<Page<Session>>("/sessions", { limit: 20 }), [api, tick]);
  const list = sessions.data?.data ?? [];
  const current = pickSession(list, chainNow, chosen);
  const sid = current?.session_id ?? null;
  const depth = useLoad(
    () => (sid === null ? Promise.resolve(null) : api.get<Depth>(`/sessions/${sid}/depth`)),
    [api, tick, sid],
  );
  const phase = phaseOf(current, chainNow);
  const ready = !!sessions.data && depth.data !== undefined && (phase !== "closed" || !current || current.status !== "open");
  useEffect(() => {
    // The benchmark's readiness marker (bright bench ui): the book rendered, the form final.
    if (ready && performance.getEntriesByName("bright:market-ready").length === 0) performance.mark("bright:market-ready");
  }, [ready]);
  return (
    <div className="grid market" data-testid="market" data-ready={ready ? "true" : "false"} data-session={sid ?? ""}>
      <Panel title="Sessions">
        <ProblemBox error={sessions.error} />
        {!sessions.data ? (
          <Loading what="sessions" />
        ) : list.length === 0 ? (
          <p>No market session yet.</p>
        ) : (
          <SessionTable sessions={list} selected={sid} onSelect={setChosen} />
        )}
      </Panel>
      <Panel title={sid === null ? "Order book" : `Order book of session ${sid}`}>
        {current && <SessionFacts s={current} />}
        <ProblemBox error={depth.error} />
        {depth.data ? <DepthView depth={depth.data} /> : sid !== null && <Loading what="the order book" />}
      </Panel>
      <Panel title="Place an order">
        <OrderForm session={current} phase={phase} />
      </Panel>
      <MyTrading sessions={list} />
    </div>
  );
}

function SessionTable({ sessions, selected, onSelect }: { sessions: Session[]; selected: number | null; onSelect: (id: number) => void }) {
  return (
    <TableBox label="Sessions" file="sessions">
      <table data-testid="sessions">
        <caption className="sr-only">Market sessions, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Session</th>
            <th scope="col">Delivery</th>
            <th scope="col">Area</th>
            <th scope="col">Status</th>
            <th scope="col">Orders</th>
            <th scope="col">Price</th>
            <th scope="col">Volume</th>
          </tr>
        </thead>
        <tbody>
          {sessions.map((s) => (
            <tr key={s.session_id} className={s.session_id === selected ? "selected" : ""}>
              <th scope="row">
                <button type="button" className="link" aria-pressed={s.session_id === selected} onClick={() => onSelect(s.session_id)}>
                  #{s.session_id}
                </button>
              </th>
              <td>
                <Time s={s.delivery_start_s} />
              </td>
              <td>{s.grid_area || "all"}</td>
              <td>{s.status}</td>
              <td>{s.order_count}</td>
              <td>
                <Price perKwh={s.price_per_kwh} />
              </td>
              <td>
                <Energy wh={s.volume_wh} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableBox>
  );
}

function SessionFacts({ s }: { s: Session }) {
  return (
    <dl className="facts" data-testid="clearing">
      <dt>Delivery</dt>
      <dd>
        <Time s={s.delivery_start_s} /> ({s.duration_s / 60} min)
      </dd>
      <dt>Gate closes</dt>
      <dd>
        <Time s={s.gate_closure_s} />
      </dd>
      <dt>Status</dt>
      <dd data-testid="session-status">{s.status}</dd>
      {s.status === "cleared" && (
        <>
          <dt>Clearing price</dt>
          <dd>
            <Price perKwh={s.price_per_kwh} />
          </dd>
          <dt>Matched volume</dt>
          <dd>{formatWh(s.volume_wh ?? 0)} in {s.match_count ?? 0} matches</dd>
        </>
      )}
    </dl>
  );
}

export function DepthView({ depth }: { depth: Depth }) {
  const max = Math.max(1, ...depth.bids.map((l) => l.qty_wh), ...depth.offers.map((l) => l.qty_wh));
  const side = (title: string, levels: Depth["bids"], cls: string) => (
    <TableBox label={title} file={`session-${depth.session_id}-${cls}`}>
    <table className={`depth ${cls}`} data-testid={`depth-${cls}`}>
      <caption>{title}</caption>
      <thead>
        <tr>
          <th scope="col">Price</th>
          <th scope="col">Quantity</th>
        </tr>
      </thead>
      <tbody>
        {levels.length === 0 ? (
          <tr>
            <td colSpan={2} className="muted">
              none
            </td>
          </tr>
        ) : (
          levels.map((l) => (
            <tr key={l.price_per_kwh}>
              <td>
                <Price perKwh={l.price_per_kwh} />
              </td>
              <td>
                <span className="qty">
                  <span className="bar" style={{ width: `${(100 * l.qty_wh) / max}%` }} aria-hidden="true" />
                  <span className="qtytext">{formatWh(l.qty_wh)}</span>
                </span>
              </td>
            </tr>
          ))
        )}
      </tbody>
    </table>
    </TableBox>
  );
  return (
    <div className="depthpair" role="group" aria-label="Order book depth">
      {side("Bids (buy), best first", depth.bids, "bids")}
      {side("Offers (sell), best first", depth.offers, "offers")}
    </div>
  );
}

function OrderForm({ session, phase }: { session: Session | undefined; phase: Phase }) {
  const { cfg, wallet, refresh } = useApp();
  const [side, setSide] = useState<"bid" | "offer">("bid");
  const [qty, setQty] = useState("500");
  const [price, setPrice] = useState("12");
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [sealedTick, setSealedTick] = useState(0);
  const canOrder = phase === "open" || phase === "commit";
  const enabled = canOrder && !!wallet && !busy;
  const sealed = wallet && session ? loadSealed(wallet.address).filter((o) => o.sessionId === session.session_id) : [];
  void sealedTick;
  const run = async (fn: () => Promise<void>) => {
    setError(null);
    setBusy(true);
    try {
      await fn();
      refresh();
    } catch (err) {
      setStatus(null);
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!session || !wallet) return;
    run(async () => {
      const q = parseWhole(qty, "Quantity", 1, MAX_QTY_WH);
      const p = parseCtPerKwh(price);
      const s = side === "bid" ? 0 : 1;
      if (phase === "commit") {
        const salt = newSalt();
        const commitment = orderCommitment(session.session_id, wallet.address, s, q, p, salt);
        await sendTx(cfg, wallet, { contract: "FlexMarket", functionName: "commitOrder", args: [BigInt(session.session_id), commitment] }, setStatus);
        const kept: SealedOrder = { sessionId: session.session_id, side: s, qtyWh: q, pricePerKwh: p.toString(), salt, commitment };
        saveSealed(wallet.address, [...loadSealed(wallet.address), kept]);
        setSealedTick((t) => t + 1);
        setStatus(`Your sealed ${side} is committed to session ${session.session_id}. Reveal it after ${formatTime(session.gate_closure_s)} and before ${formatTime(session.reveal_deadline_s)} (kept in this browser).`);
        return;
      }
      const r = await sendTx(cfg, wallet, { contract: "FlexMarket", functionName: "placeOrder", args: [BigInt(session.session_id), s, BigInt(q), p] }, setStatus);
      setStatus(`Your ${side} of ${formatWh(q)} at ${formatPrice(p)} is in session ${session.session_id} (block ${r.blockNumber}).`);
    });
  };
  const reveal = (o: SealedOrder) =>
    run(async () => {
      await sendTx(cfg, wallet!, { contract: "FlexMarket", functionName: "revealOrder", args: [BigInt(o.sessionId), o.side, BigInt(o.qtyWh), BigInt(o.pricePerKwh), o.salt] }, setStatus);
      saveSealed(wallet!.address, loadSealed(wallet!.address).map((x) => (x.commitment === o.commitment ? { ...x, revealed: true } : x)));
      setSealedTick((t) => t + 1);
      setStatus(`Your sealed order of ${formatWh(o.qtyWh)} is revealed and in the book of session ${o.sessionId}.`);
    });
  const help = !session ? (
    "No session is open."
  ) : phase === "open" ? (
    <>
      Session {session.session_id}: delivery <Time s={session.delivery_start_s} />, gate closes <Time s={session.gate_closure_s} />.
    </>
  ) : phase === "commit" ? (
    <>
      Session {session.session_id} is sealed: commit your order now (nobody sees it), reveal it between <Time s={session.gate_closure_s} /> and{" "}
      <Time s={session.reveal_deadline_s} />.
    </>
  ) : phase === "reveal" ? (
    <>
      Session {session.session_id}: the gate has closed; reveal your sealed orders before <Time s={session.reveal_deadline_s} />.
    </>
  ) : (
    `Session ${session.session_id} takes no orders now (${session.status === "open" ? "its gate has closed" : session.status}). Pick an open session.`
  );
  return (
    <form onSubmit={submit} aria-describedby="order-help" data-testid="order-form">
      <p id="order-help" className="muted small">
        {help}
        {!wallet && " Connect your wallet to trade."}
      </p>
      <fieldset>
        <legend>Side</legend>
        <label>
          <input type="radio" name="side" value="bid" checked={side === "bid"} onChange={() => setSide("bid")} /> Bid (buy flexibility)
        </label>
        <label>
          <input type="radio" name="side" value="offer" checked={side === "offer"} onChange={() => setSide("offer")} /> Offer (sell flexibility)
        </label>
      </fieldset>
      <Field label="Quantity (Wh)" hint="Energy in the 15-minute interval.">
        {(id, hint) => <input id={id} aria-describedby={hint} inputMode="numeric" value={qty} onChange={(e) => setQty(e.target.value)} required />}
      </Field>
      <Field label="Price (euro cents per kWh)" hint={
          session?.penalty_per_kwh !== undefined && session.order_bond !== undefined
            ? `A bid locks quantity × price, an offer quantity × ${formatPrice(session.penalty_per_kwh)} (its delivery bond), each plus the order bond of ${formatEuro(session.order_bond)}, until clearing; a filled offer's bond stays until the delivery is settled. 1 FLEX = 1 euro.`
            : "A bid locks quantity × price of your market deposit until clearing. 1 FLEX = 1 euro."
        }>
        {(id, hint) => <input id={id} aria-describedby={hint} inputMode="decimal" value={price} onChange={(e) => setPrice(e.target.value)} required />}
      </Field>
      <button type="submit" disabled={!enabled} data-testid="place-order">
        {phase === "commit" ? `Commit sealed ${side}` : `Place ${side}`}
      </button>
      {sealed.length > 0 && (
        <ul className="sealed" aria-label="My sealed orders in this session">
          {sealed.map((o) => (
            <li key={o.commitment}>
              Sealed {o.side === 0 ? "bid" : "offer"} of {formatWh(o.qtyWh)} at {formatPrice(Number(o.pricePerKwh))}:{" "}
              {o.revealed ? (
                "revealed"
              ) : phase === "reveal" ? (
                <button type="button" disabled={busy || !wallet} onClick={() => reveal(o)}>
                  Reveal
                </button>
              ) : (
                "committed, not revealed yet"
              )}
            </li>
          ))}
        </ul>
      )}
      <StatusLine text={status} />
      <ProblemBox error={error} onDismiss={() => setError(null)} />
    </form>
  );
}

function MyTrading({ sessions }: { sessions: Session[] }) {
  const { cfg, api, me, wallet, tick, chainNow, refresh } = useApp();
  const orders = useLoad(() => api.get<Page<Order>>("/orders", { limit: 50 }), [api, tick]);
  const matches = useLoad(() => api.get<Page<Match>>("/matches", { limit: 50 }), [api, tick]);
  const balances = useLoad(() => api.get<Page<Balance>>("/balances"), [api, tick]);
  const settled = useLoad(() => api.get<Page<TradeSettlement>>("/trade-settlements", { limit: 50 }), [api, tick]);
  const deposit = useLoad(
    () => readContract<readonly [bigint, bigint, bigint]>(cfg, "FlexMarket", "account", [me!.address]),
    [cfg, me, tick],
  );
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [amount, setAmount] = useState("100");
  const act = async (what: string, fn: () => Promise<void>) => {
    setError(null);
    try {
      await fn();
      setStatus(what);
      refresh();
    } catch (e) {
      setStatus(null);
      setError(e);
    }
  };
  const cancel = (o: Order) =>
    act(`Order ${o.order_id} of session ${o.session_id} cancelled.`, async () => {
      setStatus("Reading the session's book from the chain to prove the order …");
      const proof = proofOf(await readBook(cfg, o.session_id), o.order_id);
      await sendTx(cfg, wallet!, { contract: "FlexMarket", functionName: "cancelOrder", args: [BigInt(o.session_id), BigInt(o.order_id), proof] }, setStatus);
    });
  const depositTokens = (e: FormEvent) => {
    e.preventDefault();
    act(`Deposited ${amount} FLEX into the market.`, async () => {
      const a = parseTokens(amount, cfg.token_decimals);
      if (a === 0n) throw new Error("deposit more than 0 FLEX");
      await sendTx(cfg, wallet!, { contract: "FlexToken", functionName: "approve", args: [cfg.contracts.FlexMarket, a] }, setStatus);
      await sendTx(cfg, wallet!, { contract: "FlexMarket", functionName: "deposit", args: [a] }, setStatus);
    });
  };
  const flex = balances.data?.data.find((b) => b.token.toLowerCase() === cfg.contracts.FlexToken.toLowerCase());
  return (
    <>
      <Panel title="My balance">
        <ProblemBox error={balances.error ?? deposit.error} />
        <dl className="facts" data-testid="balance">
          <dt>Wallet</dt>
          <dd>{flex ? formatFlex(flex.balance) : balances.data ? formatFlex(0) : "…"}</dd>
          <dt>Market deposit, free</dt>
          <dd>{deposit.data ? formatFlex(deposit.data[0]) : "…"}</dd>
          <dt>Market deposit, locked (open orders, delivery bonds)</dt>
          <dd>{deposit.data ? formatFlex(deposit.data[1]) : "…"}</dd>
        </dl>
        <p className="muted small">FLEX is the community's euro token: 1 FLEX = 1 euro.</p>
        <form onSubmit={depositTokens} className="inline">
          <Field label="Deposit (FLEX)">
            {(id) => <input id={id} inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} />}
          </Field>
          <button type="submit" disabled={!wallet}>
            Approve and deposit
          </button>
        </form>
      </Panel>
      <Panel title="My orders">
        <StatusLine text={status} />
        <ProblemBox error={error ?? orders.error} onDismiss={() => setError(null)} />
        {!orders.data ? (
          <Loading what="your orders" />
        ) : orders.data.data.length === 0 ? (
          <p>You have no orders yet.</p>
        ) : (
          <OrdersTable orders={orders.data.data} sessions={sessions} chainNow={chainNow} canCancel={!!wallet} onCancel={cancel} />
        )}
      </Panel>
      <Panel title="My settled trades">
        <ProblemBox error={settled.error} />
        {!settled.data ? <Loading what="your settled trades" /> : <SettledTrades rows={settled.data.data} />}
      </Panel>
      <Panel title="My matches">
        <ProblemBox error={matches.error} />
        {!matches.data ? (
          <Loading what="your matches" />
        ) : matches.data.data.length === 0 ? (
          <p>No matches yet.</p>
        ) : (
          <TableBox label="My matches" file="my-matches">
            <table data-testid="my-matches">
              <caption className="sr-only">My matches, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Session</th>
                  <th scope="col">My side</th>
                  <th scope="col">Bid</th>
                  <th scope="col">Offer</th>
                  <th scope="col">Quantity</th>
                  <th scope="col">Price</th>
                </tr>
              </thead>
              <tbody>
                {matches.data.data.map((m) => (
                  <tr key={`${m.session_id}-${m.bid_id}-${m.offer_id}`} data-match={`${m.session_id}-${m.bid_id}-${m.offer_id}`}>
                    <td>#{m.session_id}</td>
                    <td>{m.my_side ?? "–"}</td>
                    <td>{m.bid_id}</td>
                    <td>{m.offer_id}</td>
                    <td>
                      <Energy wh={m.qty_wh} />
                    </td>
                    <td>
                      <Price perKwh={m.price_per_kwh} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        )}
      </Panel>
    </>
  );
}

const STATE_WORDS: Record<string, string> = {
  open: "open",
  cancelled: "cancelled",
  voided: "voided (never cleared: released)",
  filled: "filled",
  partly_filled: "partly filled",
  unfilled: "not filled",
};

/** An order's state in words, from the API (its row and its session's status), never from
 *  whether its session happens to be among the sessions this page lists. */
export function orderStateText(o: Order): string {
  const words = o.state ? (STATE_WORDS[o.state] ?? o.state) : o.cancelled ? "cancelled" : (o.session_status ?? "–");
  return o.session_status === "settled" && o.state !== "cancelled" ? `${words}, settled` : words;
}

/** A member's orders; an open one whose session's gate is open (on the chain's clock) can be
 *  cancelled. */
export function OrdersTable({
  orders,
  sessions,
  chainNow,
  canCancel,
  onCancel,
}: {
  orders: Order[];
  sessions: Session[];
  chainNow: number | null;
  canCancel: boolean;
  onCancel: (o: Order) => void;
}) {
  const byId = new Map(sessions.map((s) => [s.session_id, s]));
  return (
    <TableBox label="My orders" file="my-orders">
      <table data-testid="my-orders">
        <caption className="sr-only">My orders, newest session first</caption>
        <thead>
          <tr>
            <th scope="col">Session</th>
            <th scope="col">Order</th>
            <th scope="col">Side</th>
            <th scope="col">Quantity</th>
            <th scope="col">Price</th>
            <th scope="col">Filled</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {orders.map((o) => {
            const cancellable = canCancel && o.state === "open" && gateOpen(byId.get(o.session_id), chainNow);
            return (
              <tr key={`${o.session_id}-${o.order_id}`} data-order={`${o.session_id}-${o.order_id}`}>
                <td>#{o.session_id}</td>
                <td>{o.order_id}</td>
                <td>{o.side}</td>
                <td>
                  <Energy wh={o.qty_wh} />
                </td>
                <td>
                  <Price perKwh={o.price_per_kwh} />
                </td>
                <td>
                  <Energy wh={o.filled_wh} />
                </td>
                <td data-testid="order-state">
                  {cancellable ? (
                    <button type="button" onClick={() => onCancel(o)} aria-label={`Cancel order ${o.order_id} of session ${o.session_id}`}>
                      Cancel
                    </button>
                  ) : (
                    orderStateText(o)
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </TableBox>
  );
}

/** A member's settled sessions: what it delivered and earned as a seller, what it paid and
 *  got back as a buyer (the settlement on delivery, from the committed meter data). */
export function SettledTrades({ rows }: { rows: TradeSettlement[] }) {
  if (rows.length === 0) return <p>No settled trade yet: a session settles after its delivery, from the meter data.</p>;
  return (
    <TableBox label="My settled trades" file="my-settled-trades">
      <table data-testid="my-settlements">
        <caption className="sr-only">My settled trades, newest session first</caption>
        <thead>
          <tr>
            <th scope="col">Session</th>
            <th scope="col">Delivery</th>
            <th scope="col">As</th>
            <th scope="col">Filled</th>
            <th scope="col">Delivered</th>
            <th scope="col">Earned / paid</th>
            <th scope="col">Penalty / back</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={`${r.session_id}-${r.side}`} data-settlement={`${r.session_id}-${r.side}`}>
              <td>#{r.session_id}</td>
              <td>
                <Time s={r.delivery_start_s} />
              </td>
              <td>{r.side}</td>
              <td>{formatWh(r.filled_wh)}</td>
              <td>
                {r.side === "buyer"
                  ? "–"
                  : r.missing_data
                    ? "no meter data"
                    : `${formatWh(r.delivered_wh ?? 0)}${r.shortfall_wh ? ` (${formatWh(r.shortfall_wh)} short)` : ""}`}
              </td>
              <td>{r.side === "seller" ? <Euro base={r.earned ?? "0"} sign="+" /> : <Euro base={r.paid ?? "0"} />}</td>
              <td>{r.side === "seller" ? <Euro base={r.penalty ?? "0"} sign="−" /> : <Euro base={r.refund ?? "0"} sign="+" />}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableBox>
  );
}
