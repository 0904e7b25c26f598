import { bytes32ToText, formatTokens, parseTokens, parseWhole, textToBytes32 } from "./format";

describe("token amounts", () => {
  it("formats base units with 6 decimals", () => {
    expect(formatTokens(1_500_000n)).toBe("1.5");
    expect(formatTokens("900000000000")).toBe("900,000");
    expect(formatTokens(1n)).toBe("0.000001");
    expect(formatTokens(-2_000_000n)).toBe("-2");
  });
  it("parses decimal text exactly", () => {
    expect(parseTokens("0.12")).toBe(120_000n);
    expect(parseTokens("9")).toBe(9_000_000n);
    expect(parseTokens(" 1.000001 ")).toBe(1_000_001n);
  });
  it("refuses what is not an amount, saying why", () => {
    expect(() => parseTokens("abc")).toThrow(/not an amount/);
    expect(() => parseTokens("0.1234567")).toThrow(/at most 6 decimals/);
    expect(() => parseTokens("-1")).toThrow(/not an amount/);
  });
});

describe("whole numbers", () => {
  it("checks the range", () => {
    expect(parseWhole("500", "Quantity", 1, 1000)).toBe(500);
    expect(() => parseWhole("0", "Quantity", 1, 1000)).toThrow("Quantity must be between 1 and 1000, got 0");
    expect(() => parseWhole("1.5", "Quantity", 1, 1000)).toThrow(/whole number/);
  });
});

describe("bytes32 text (grid areas)", () => {
  it("pads on the right like chain/domain.py and reads back", () => {
    const b = textToBytes32("feeder-1");
    expect(b).toBe("0x6665656465722d31" + "0".repeat(48));
    expect(bytes32ToText(b)).toBe("feeder-1");
    expect(() => textToBytes32("x".repeat(33))).toThrow(/at most 32/);
  });
});
