import { screen } from "@testing-library/react";
import { renderIn, ME, routesApi } from "../test-utils";
import { RequestDetail } from "./RequestDetail";
import { BY_HAND, requiredEscrow } from "./Dso";
import type { FlexRequest } from "./common";

const DSO = "0x0000000000000000000000000000000000000D50";
const M1 = "0x00000000000000000000000000000000000000A1";
const M2 = "0x00000000000000000000000000000000000000A2";

function request(over: Partial<FlexRequest>): FlexRequest {
  return {
    request_id: 3, dso: DSO, grid_area: "feeder-1", status: "settled", direction: "up", window_start_s: 1_795_702_500,
    window_end_s: 1_795_704_300, intervals: 2, opt_in_deadline_s: 1_795_690_000, quantities_wh: [100, 100], tolerance_bp: 1000,
    price_cap_per_kwh: 200_000, penalty_per_kwh: 50_000, escrow: "44000", round: 0, opt_in_count: 2, coordinator: null,
    price_per_kwh: 150_000, member_count: 2, max_payout: null, payout_total: "27000", refund: "17000", ...over,
  };
}

const coalition = (rows: object[]) => ({ request_id: 3, status: "settled", round: 0, price_per_kwh: 150_000, member_count: rows.length, visible: "all", rows, count: rows.length });
const row = (member: string, over: object = {}) => ({
  member, meter_id: "m", status: "member", targets_wh: [50, 50], delivered_wh: [50, 50], target_total_wh: 100, delivered_total_wh: 100, payout: "15000", points: 100, ...over,
});

it("shows why a request got no coalition, and each member's explanation and name, when the API gives them", async () => {
  const r = request({ status: "open", outcome_reason: "the opt-ins offered 60 Wh of the 90 Wh the tolerance needs", dso_name: "Grid DSO" });
  const routes = {
    "/requests/3/intervals": { data: [] },
    "/requests/3/coalition": coalition([
      row(M1, { member_name: "Home 01", explanation: "delivered -20 Wh against a baseline of 310 Wh" }),
      row(M2),
    ]),
  };
  renderIn(<RequestDetail request={{ ...r, status: "settled" }} />, { me: ME, api: routesApi(routes) });
  expect(screen.getByTestId("outcome-reason")).toHaveTextContent("Why: the opt-ins offered 60 Wh of the 90 Wh the tolerance needs");
  expect(screen.getByText("Grid DSO")).toHaveAttribute("title", DSO);
  expect(await screen.findByText("Home 01")).toHaveAttribute("title", M1);
  expect(screen.getByText("0x0000…00A2")).toHaveAttribute("title", M2);
  const why = screen.getAllByTestId("explanation").map((c) => c.textContent);
  expect(why).toEqual(["delivered -20 Wh against a baseline of 310 Wh", ""]);
  expect(screen.getByText("€ 0.027")).toBeInTheDocument(); // paid, in euros
  expect(screen.getByText("15 ct/kWh")).toBeInTheDocument(); // the coalition's price
});

it("renders nothing for the new fields when the API does not send them", async () => {
  const routes = { "/requests/3/intervals": { data: [] }, "/requests/3/coalition": coalition([row(M1)]) };
  renderIn(<RequestDetail request={request({})} />, { me: ME, api: routesApi(routes) });
  expect(await screen.findByText("0x0000…00A1")).toBeInTheDocument();
  expect(screen.queryByTestId("outcome-reason")).toBeNull();
  expect(screen.queryByTestId("explanation")).toBeNull();
  expect(screen.queryByRole("columnheader", { name: "Why" })).toBeNull();
  expect(screen.getByText("0x0000…0D50")).toHaveAttribute("title", DSO);
});

it("defaults the DSO form to the README's request by hand (fits one demo home, opt-ins well ahead)", () => {
  expect(BY_HAND.qtyWh).toBe("100");
  expect(Number(BY_HAND.deadlineInMin)).toBeGreaterThanOrEqual(120); // several intervals ahead
  expect(Number(BY_HAND.startsInMin)).toBeGreaterThan(Number(BY_HAND.deadlineInMin));
  // 2 x 100 Wh, 10 %, cap 20 ct/kWh: 2 x (110 Wh x 200000 / 1000) = 44000 base units = € 0.044.
  expect(requiredEscrow([100, 100], 1000, 200_000n)).toBe(44_000n);
});
