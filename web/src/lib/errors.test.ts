// Custom errors decoded with the real compiled ABIs (build/artifacts) through viem.
import { readFileSync } from "node:fs";
import path from "node:path";
import { BaseError, ContractFunctionRevertedError, UserRejectedRequestError, encodeErrorResult, type Abi } from "viem";
import { ApiError } from "./api";
import { describeError, explainCustomError } from "./errors";

const artifacts = path.resolve(__dirname, "../../../build/artifacts");
const abi = (name: string) => JSON.parse(readFileSync(path.join(artifacts, `${name}.json`), "utf8")).abi as Abi;
const cfg = {
  abis: { FlexMarket: abi("FlexMarket"), FlexToken: abi("FlexToken") } as unknown as Record<"FlexMarket" | "FlexToken", Abi>,
  errors: {
    FlexMarketInsufficientDeposit: "A bid needs more free deposit than `account` has.",
    FlexMarketWrongArea: "A participant of `area` trades in a session of `sessionArea`.",
  },
};

function reverted(errorName: string, args: readonly unknown[], withAbi: Abi) {
  const data = encodeErrorResult({ abi: withAbi, errorName, args } as never);
  const inner = new ContractFunctionRevertedError({ abi: withAbi, data, functionName: "placeOrder" });
  return new BaseError("simulation failed", { cause: inner });
}

it("turns a FlexMarket custom error into words with its values", () => {
  const e = reverted(
    "FlexMarketInsufficientDeposit",
    ["0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc", 900_000_000_000n, 500_000_000n],
    cfg.abis.FlexMarket,
  );
  const p = describeError(e, cfg as never);
  expect(p.errorName).toBe("FlexMarketInsufficientDeposit");
  expect(p.title).toBe("The contract refused the transaction: FlexMarketInsufficientDeposit");
  expect(p.detail).toBe(
    "A bid needs more free deposit than 0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc has. " +
      "(account = 0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc, needed = € 900,000.00 (900000000000 base units), available = € 500.00 (500000000 base units))",
  );
});

it("shows bytes32 grid areas as text", () => {
  const area = "0x6665656465722d31" + "0".repeat(48);
  const area2 = "0x6665656465722d32" + "0".repeat(48);
  const p = explainCustomError("FlexMarketWrongArea", ["0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc", area, area2], cfg as never);
  expect(p.detail).toContain('A participant of "feeder-1" trades in a session of "feeder-2".');
});

it("says when the wallet rejected, and when the API or network fails", () => {
  const rejected = new UserRejectedRequestError(new Error("User denied"));
  expect(describeError(rejected).title).toBe("You rejected the request in your wallet");
  const net = new ApiError("Cannot reach the BRIGHT API (/sessions)", 0, "network");
  expect(describeError(net).title).toBe("Network problem");
  const refused = new ApiError("session 9", 404, "not_found");
  expect(describeError(refused)).toEqual({ title: "The API refused the request (404)", detail: "session 9" });
});
