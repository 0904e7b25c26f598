import { requestStatusText } from "./Requests";
import { peakHour } from "./Operator";
import { assetBody, parseAsset, valuesText } from "./Home";
it("reads a device's last values with their units", () => {
  expect(valuesText({ values: { energy: { value: 2870919, unit: "Wh", time_s: 1 }, online: true } })).toBe("energy: 2,870,919 Wh, online: true");
  expect(valuesText({ values: {} })).toBe("–");
});

it("finds a cluster profile's peak hour", () => {
  expect(peakHour([0.5, 1.2, null, 0.9])).toBe(1);
  expect(peakHour(null)).toBeNull();
});

it("says when a request's opt-ins have closed without a coalition yet", () => {
  const r = { status: "open", opt_in_deadline_s: 100, window_start_s: 200 } as never;
  expect(requestStatusText(r, 50)).toBe("open for opt-ins");
  expect(requestStatusText(r, 150)).toBe("opt-ins closed, waiting for a coalition");
  expect(requestStatusText(r, 250)).toBe("no coalition (window started)");
  expect(requestStatusText({ ...(r as object), status: "accepted" } as never, 250)).toBe("coalition accepted");
});

describe("profile assets", () => {
  it("parses a new asset from the form or says why not", () => {
    expect(parseAsset("heat-pump", "3.5", "")).toEqual({ kind: "heat-pump", power_kw: 3.5 });
    expect(parseAsset("battery", "5", "13.5")).toEqual({ kind: "battery", power_kw: 5, capacity_kwh: 13.5 });
    expect(parseAsset("battery", "5", "")).toMatch(/capacity/);
    expect(parseAsset("pv", "0", "")).toMatch(/above 0/);
    expect(parseAsset("pv", "abc", "")).toMatch(/number/);
  });
  it("sends a battery with its capacity and the others without", () => {
    expect(assetBody({ kind: "pv", power_kw: 4, capacity_kwh: null, label: null })).toEqual({ kind: "pv", power_kw: 4 });
    expect(assetBody({ kind: "battery", power_kw: 5, capacity_kwh: 6.4, label: "garage" })).toEqual({
      kind: "battery",
      power_kw: 5,
      capacity_kwh: 6.4,
      label: "garage",
    });
  });
});
