import { peakHour } from "./Operator";
import { valuesText } from "./Home";
it("reads a device's last values with their units", () => {
  expect(valuesText({ values: { energy: { value: 2870919, unit: "Wh", time_s: 1 }, online: true } })).toBe("energy: 2,870,919 Wh, online: true");
  expect(valuesText({ values: {} })).toBe("–");
});

it("finds a cluster profile's peak hour", () => {
  expect(peakHour([0.5, 1.2, null, 0.9])).toBe(1);
  expect(peakHour(null)).toBeNull();
});
