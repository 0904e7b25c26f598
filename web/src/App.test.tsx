import { routeOf } from "./App";
import { requiredEscrow, windowStartAfter } from "./pages/Dso";

it("routes by the hash, so SPA paths never reach the API", () => {
  expect(routeOf("#/dso")).toBe("dso");
  expect(routeOf("#/requests?x=1")).toBe("requests");
  expect(routeOf("")).toBe("market");
  expect(routeOf("#/sessions")).toBe("market");
});

it("computes the escrow as the contract does (integer arithmetic)", () => {
  // cap 0.2 FLEX/kWh, 10 % tolerance: 2000 Wh -> upper 2200 Wh -> 200000 * 2200 / 1000 = 440000
  expect(requiredEscrow([2000, 2000, 2000, 2000], 1000, 200_000n)).toBe(1_760_000n);
  // floor in each step: 333 Wh at 10 % -> 366 Wh -> 200000 * 366 / 1000 = 73200
  expect(requiredEscrow([333], 1000, 200_000n)).toBe(73_200n);
});

it("puts a window start on the 15-minute grid", () => {
  expect(windowStartAfter(1_000, 60)).toBe(5_400);
  expect(windowStartAfter(900, 15)).toBe(1_800);
});
