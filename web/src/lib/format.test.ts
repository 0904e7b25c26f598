import {
  bytes32ToText,
  displayName,
  formatEuro,
  formatFlex,
  formatPrice,
  formatTime,
  formatTokens,
  formatUtc,
  parseCtPerKwh,
  parseEuro,
  parseTokens,
  parseWhole,
  setTimeZone,
  textToBytes32,
  timeZone,
} from "./format";

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

describe("money in euros (FLEX: 1 FLEX = 1 EUR, base units are micro-euros)", () => {
  it("shows the cents, and more decimals only when the amount has them", () => {
    expect(formatEuro(12_340_000n)).toBe("€ 12.34");
    expect(formatEuro("1500000")).toBe("€ 1.50");
    expect(formatEuro(0)).toBe("€ 0.00");
    expect(formatEuro(371_400n)).toBe("€ 0.3714"); // an escrow of 371400 base units
    expect(formatEuro(1n)).toBe("€ 0.000001");
    expect(formatEuro(-2_000_000n)).toBe("-€ 2.00");
    expect(formatEuro("900000000000")).toBe("€ 900,000.00");
    expect(formatEuro(null)).toBe("–");
  });
  it("keeps FLEX for the token itself", () => {
    expect(formatFlex(1_500_000n)).toBe("1.5 FLEX");
  });
  it("parses euros exactly", () => {
    expect(parseEuro("€ 12.34")).toBe(12_340_000n);
    expect(parseEuro("0.5")).toBe(500_000n);
    expect(() => parseEuro("12,34")).toThrow(/not an amount/);
  });
});

describe("prices in euro cents per kWh (10,000 base units per kWh = 1 ct/kWh)", () => {
  it("formats base units per kWh", () => {
    expect(formatPrice(120_000)).toBe("12 ct/kWh");
    expect(formatPrice(123_400n)).toBe("12.34 ct/kWh");
    expect(formatPrice(50_000)).toBe("5 ct/kWh");
    expect(formatPrice(1)).toBe("0.0001 ct/kWh");
    expect(formatPrice(126_666.6667)).toBe("12.66 ct/kWh"); // a mean: hundredths of a cent
    expect(formatPrice(null)).toBe("–");
  });
  it("parses cents per kWh into base units", () => {
    expect(parseCtPerKwh("12")).toBe(120_000n);
    expect(parseCtPerKwh("12.5 ct/kWh")).toBe(125_000n);
    expect(parseCtPerKwh("0.0001")).toBe(1n);
    expect(() => parseCtPerKwh("0.00001")).toThrow(/at most 4 decimals/);
    expect(() => parseCtPerKwh("-3")).toThrow(/not a price/);
  });
});

describe("times in the community's zone, UTC on hover", () => {
  afterEach(() => setTimeZone("UTC"));
  it("shows local time with its zone, and UTC apart", () => {
    const winter = Date.UTC(2026, 10, 26, 14, 15) / 1000;
    const summer = Date.UTC(2026, 6, 1, 14, 15) / 1000;
    expect(formatTime(winter)).toBe("2026-11-26 14:15 UTC");
    setTimeZone("Europe/Brussels");
    expect(timeZone()).toBe("Europe/Brussels");
    expect(formatTime(winter)).toMatch(/^2026-11-26 15:15 (CET|GMT\+1)$/);
    expect(formatTime(summer)).toMatch(/^2026-07-01 16:15 (CEST|GMT\+2)$/);
    expect(formatUtc(winter)).toBe("2026-11-26 14:15 UTC");
    expect(formatTime(null)).toBe("–");
  });
  it("keeps UTC for a zone it does not know", () => {
    setTimeZone("Mars/Olympus");
    expect(timeZone()).toBe("UTC");
  });
});

describe("participants", () => {
  it("by name when there is one, else the short address", () => {
    const a = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc";
    expect(displayName(a, "Home 01")).toBe("Home 01");
    expect(displayName(a, null)).toBe("0x9965…A4dc");
    expect(displayName(a)).toBe("0x9965…A4dc");
  });
});
