import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import type { Depth, Session } from "../lib/api";
import { FAKE_WALLET, ME, renderIn, routesApi, testConfig } from "../test-utils";
import { DepthView, MarketPage, OrdersTable, SettledTrades, gateOpen, orderStateText, phaseOf, pickSession } from "./Market";
import type { Order } from "../lib/api";

function session(id: number, status: string, gate: number): Session {
  return {
    session_id: id, market: "0x3", grid_area: "", status, delivery_start_s: gate + 300, duration_s: 900,
    gate_closure_s: gate, reveal_deadline_s: 0, product: 0, rule: 0, sealed_bids: false, order_count: 2,
    cancel_count: 0, price_per_kwh: status === "cleared" ? 80_000 : null, volume_wh: status === "cleared" ? 500 : null,
    match_count: status === "cleared" ? 1 : null, escrowed: null,
  };
}
const depth: Depth = { session_id: 7, status: "open", bids: [{ price_per_kwh: 150_000, qty_wh: 500 }], offers: [{ price_per_kwh: 100_000, qty_wh: 300 }] };
const routes = {
  "/sessions": { data: [session(7, "open", 2_000), session(6, "cleared", 900)], count: 2 },
  "/sessions/7/depth": depth,
  "/sessions/6/depth": { ...depth, session_id: 6, status: "cleared" },
  "/orders": { data: [], count: 0 },
  "/matches": { data: [], count: 0 },
  "/balances": { data: [], count: 0 },
  "/trade-settlements": { data: [], count: 0 },
};

describe("which session takes orders", () => {
  it("is the open one whose gate has not passed on the chain's clock", () => {
    const s = [session(7, "open", 2_000), session(6, "cleared", 900)];
    expect(gateOpen(s[0], 1_000)).toBe(true);
    expect(gateOpen(s[0], 2_000)).toBe(false);
    expect(gateOpen(s[1], 1_000)).toBe(false);
    expect(pickSession(s, 1_000, null)?.session_id).toBe(7);
    expect(pickSession(s, 5_000, null)?.session_id).toBe(7); // none open: the newest
    expect(pickSession(s, 1_000, 6)?.session_id).toBe(6);
  });
});

it("renders the depth as two tables, best price first", () => {
  renderIn(<DepthView depth={depth} />, {});
  expect(screen.getByRole("table", { name: /Bids/ })).toHaveTextContent("15 ct/kWh500 Wh");
  expect(screen.getByRole("table", { name: /Offers/ })).toHaveTextContent("10 ct/kWh300 Wh");
});

it("asks to log in without a session", () => {
  renderIn(<MarketPage />, {});
  expect(screen.getByText(/Connect your wallet and log in/)).toBeInTheDocument();
});

it("shows sessions and the book and is ready with the order form enabled", async () => {
  renderIn(<MarketPage />, { me: ME, wallet: FAKE_WALLET, api: routesApi(routes), cfg: testConfig() });
  const market = await screen.findByTestId("market");
  await waitFor(() => expect(market).toHaveAttribute("data-ready", "true"));
  expect(market).toHaveAttribute("data-session", "7");
  expect(screen.getByRole("heading", { name: "Order book of session 7" })).toBeInTheDocument();
  expect(screen.getByTestId("place-order")).toBeEnabled();
  fireEvent.click(screen.getByRole("button", { name: "#6" }));
  await screen.findByRole("heading", { name: "Order book of session 6" });
  expect(screen.getByTestId("place-order")).toBeDisabled();
  expect(screen.getByText(/Session 6 takes no orders now \(cleared\)/)).toBeInTheDocument();
});

it("keeps the order form disabled without a wallet", async () => {
  renderIn(<MarketPage />, { me: ME, wallet: null, api: routesApi(routes) });
  await screen.findByRole("heading", { name: "Order book of session 7" });
  expect(screen.getByTestId("place-order")).toBeDisabled();
  expect(screen.getByText(/Connect your wallet to trade/)).toBeInTheDocument();
});

it("says what is wrong with the quantity before asking the wallet", async () => {
  renderIn(<MarketPage />, { me: ME, wallet: FAKE_WALLET, api: routesApi(routes) });
  await waitFor(() => expect(screen.getByTestId("place-order")).toBeEnabled());
  fireEvent.change(screen.getByLabelText("Quantity (Wh)"), { target: { value: "12abc" } });
  fireEvent.submit(screen.getByTestId("order-form"));
  const form = screen.getByTestId("order-form");
  expect(await within(form).findByRole("alert")).toHaveTextContent('Quantity must be a whole number, got "12abc"');
});

it("shows an API failure in words", async () => {
  renderIn(<MarketPage />, { me: ME, api: routesApi({}) });
  const alerts = await screen.findAllByRole("alert");
  expect(alerts[0]).toHaveTextContent("The API refused the request (404)");
});

describe("sealed sessions", () => {
  const sealed = { ...session(8, "open", 2_000), sealed_bids: true, reveal_deadline_s: 2_200 };
  it("take commitments before the gate, reveals until the deadline, then nothing", () => {
    expect(phaseOf(sealed, 1_999)).toBe("commit");
    expect(phaseOf(sealed, 2_000)).toBe("reveal");
    expect(phaseOf(sealed, 2_199)).toBe("reveal");
    expect(phaseOf(sealed, 2_200)).toBe("closed");
    expect(phaseOf(session(7, "open", 2_000), 1_000)).toBe("open");
    expect(gateOpen(sealed, 1_000)).toBe(false); // no direct orders or cancellations
  });
  it("offer to commit a sealed order", async () => {
    const r = { ...routes, "/sessions": { data: [sealed], count: 1 }, "/sessions/8/depth": { ...depth, session_id: 8 } };
    renderIn(<MarketPage />, { me: ME, wallet: FAKE_WALLET, api: routesApi(r), chainNow: 1_000 });
    await waitFor(() => expect(screen.getByTestId("place-order")).toHaveTextContent("Commit sealed bid"));
    expect(screen.getByTestId("place-order")).toBeEnabled();
    expect(screen.getByText(/is sealed: commit your order now/)).toBeInTheDocument();
  });
});

it("shows a seller's earning and penalty and a buyer's payment and refund per settled session", () => {
  const common = { delivery_start_s: 1_800, settled_block: 40, trader: "0x1", delivered_wh: null, credited_wh: null,
    shortfall_wh: null, missing_data: null, earned: null, penalty: null, paid: null, refund: null };
  renderIn(
    <SettledTrades
      rows={[
        { ...common, session_id: 7, side: "seller", filled_wh: 500, delivered_wh: 400, credited_wh: 400, shortfall_wh: 50,
          missing_data: false, earned: "32000", penalty: "2500" },
        { ...common, session_id: 7, side: "buyer", filled_wh: 200, paid: "16000", refund: "1000" },
        { ...common, session_id: 6, side: "seller", filled_wh: 100, delivered_wh: 0, credited_wh: 0, shortfall_wh: 90,
          missing_data: true, earned: "0", penalty: "4500" },
      ]}
    />,
    {},
  );
  const table = screen.getByTestId("my-settlements");
  const rows = within(table).getAllByRole("row").slice(1).map((r) => r.textContent);
  expect(rows[0]).toContain("seller500 Wh400 Wh (50 Wh short)+€ 0.032−€ 0.0025");
  expect(rows[1]).toContain("buyer200 Wh–€ 0.016+€ 0.001");
  expect(rows[2]).toContain("no meter data");
});

it("says when nothing is settled yet", () => {
  renderIn(<SettledTrades rows={[]} />, {});
  expect(screen.getByText(/No settled trade yet/)).toBeInTheDocument();
});

function order(over: Partial<Order>): Order {
  return {
    session_id: 3, order_id: 0, trader: ME.address, side: "bid", qty_wh: 500, price_per_kwh: 150_000, grid_area: "",
    cancelled: false, filled_wh: 0, placed_block: 9, tx_hash: `0x${"ab".repeat(32)}`, ...over,
  };
}

describe("an order's state", () => {
  it("comes from the API's order row and its session's status, not from the sessions listed", () => {
    // Session 3 is older than the sessions the page lists (7 and 6): its orders were filled
    // and settled, not "active".
    const listed = [session(7, "open", 2_000), session(6, "cleared", 900)];
    const orders = [
      order({ order_id: 0, filled_wh: 500, session_status: "settled", state: "filled" }),
      order({ order_id: 1, filled_wh: 200, session_status: "cleared", state: "partly_filled" }),
      order({ order_id: 2, session_status: "cleared", state: "unfilled" }),
      order({ order_id: 3, session_status: "voided", state: "voided" }),
      order({ order_id: 4, cancelled: true, session_status: "settled", state: "cancelled" }),
    ];
    renderIn(<OrdersTable orders={orders} sessions={listed} chainNow={1_000} canCancel onCancel={() => undefined} />, {});
    const states = screen.getAllByTestId("order-state").map((td) => td.textContent);
    expect(states).toEqual(["filled, settled", "partly filled", "not filled", "voided (never cleared: released)", "cancelled"]);
    expect(screen.queryByRole("button", { name: /Cancel order/ })).toBeNull();
  });
  it("offers a cancel only for an open order whose session's gate is open", () => {
    const listed = [session(7, "open", 2_000)];
    const open = order({ session_id: 7, session_status: "open", state: "open" });
    renderIn(<OrdersTable orders={[open]} sessions={listed} chainNow={1_000} canCancel onCancel={() => undefined} />, {});
    expect(screen.getByRole("button", { name: "Cancel order 0 of session 7" })).toBeInTheDocument();
    expect(orderStateText({ ...open, session_id: 2 })).toBe("open");
  });
});
