import { loadSealed, newSalt, orderCommitment, saveSealed } from "./sealed";

it("computes the commitment as chain/market.py order_commitment (and the contract)", () => {
  const c = orderCommitment(7, "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc", 0, 500, 150_000n, `0x${"11".repeat(32)}`);
  expect(c).toBe("0x0cfdbb64434dce06d017a655de2769ca10b36974600ae3df0e3573c048331347");
});

it("keeps sealed orders per trader in this browser", () => {
  const salt = newSalt();
  expect(salt).toMatch(/^0x[0-9a-f]{64}$/);
  saveSealed("0xAbC", [{ sessionId: 1, side: 1, qtyWh: 5, pricePerKwh: "7", salt, commitment: salt }]);
  expect(loadSealed("0xabc")[0].salt).toBe(salt);
  expect(loadSealed("0xdef")).toEqual([]);
});
