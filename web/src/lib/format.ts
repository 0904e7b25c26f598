// Units as on-chain: energy in Wh, token amounts in base units (FlexToken: 6 decimals),
// prices in base units per kWh, times in unix seconds.

export const TOKEN_DECIMALS = 6;

/** Base units -> "12.345678" FLEX, trailing zeros trimmed. */
export function formatTokens(base: bigint | number | string, decimals = TOKEN_DECIMALS): string {
  const v = BigInt(base);
  const neg = v < 0n;
  const abs = neg ? -v : v;
  const unit = 10n ** BigInt(decimals);
  const whole = abs / unit;
  let frac = (abs % unit).toString().padStart(decimals, "0").replace(/0+$/, "");
  if (frac) frac = "." + frac;
  return `${neg ? "-" : ""}${whole.toLocaleString("en-US")}${frac}`;
}

/** "0.12" FLEX -> base units; throws a readable Error for anything else. */
export function parseTokens(text: string, decimals = TOKEN_DECIMALS): bigint {
  const t = text.trim();
  if (!/^\d+(\.\d+)?$/.test(t)) throw new Error(`"${text}" is not an amount (e.g. 0.12)`);
  const [whole, frac = ""] = t.split(".");
  if (frac.length > decimals) throw new Error(`at most ${decimals} decimals, got "${text}"`);
  return BigInt(whole) * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, "0") || "0");
}

/** A whole number within [min, max], or a readable Error. */
export function parseWhole(text: string, what: string, min: number, max: number): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new Error(`${what} must be a whole number, got "${text}"`);
  const n = Number(t);
  if (n < min || n > max) throw new Error(`${what} must be between ${min} and ${max}, got ${n}`);
  return n;
}

export function formatWh(wh: number | bigint): string {
  const n = Number(wh);
  if (Math.abs(n) >= 10_000) return `${(n / 1000).toLocaleString("en-US", { maximumFractionDigits: 1 })} kWh`;
  return `${n.toLocaleString("en-US")} Wh`;
}

export function formatPrice(basePerKwh: number | bigint | null | undefined): string {
  if (basePerKwh === null || basePerKwh === undefined) return "–";
  return `${formatTokens(BigInt(Math.round(Number(basePerKwh))))} FLEX/kWh`;
}

/** Unix seconds -> "2026-11-26 14:15 UTC". */
export function formatTime(s: number | bigint | null | undefined): string {
  if (s === null || s === undefined) return "–";
  const d = new Date(Number(s) * 1000);
  return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

export function shortAddress(a: string): string {
  return a.length > 12 ? `${a.slice(0, 6)}…${a.slice(-4)}` : a;
}

/** Right-padded UTF-8 text as bytes32 (grid areas, meter ids), as chain/domain.py. */
export function textToBytes32(text: string): `0x${string}` {
  const raw = new TextEncoder().encode(text);
  if (raw.length > 32) throw new Error(`"${text}" is ${raw.length} bytes; at most 32 fit on-chain`);
  let hex = "";
  for (const b of raw) hex += b.toString(16).padStart(2, "0");
  return `0x${hex.padEnd(64, "0")}`;
}

export function bytes32ToText(hex: string): string {
  const clean = hex.replace(/^0x/, "").replace(/(00)+$/, "");
  const bytes = new Uint8Array(clean.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return new TextDecoder().decode(bytes);
}
