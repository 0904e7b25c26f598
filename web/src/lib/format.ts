// The one formatting module of the UI. Units as on-chain (and in the API): energy in Wh,
// token amounts in base units (FlexToken: 6 decimals), prices in base units per kWh, times in
// unix seconds. FLEX is the community's euro token (1 FLEX = 1 EUR), so a base unit is a
// micro-euro: money is shown in euros (€ 12.34), prices in euro cents per kWh (12.34 ct/kWh),
// and FLEX only where the token itself matters (deposit, withdraw, allowance). Times are shown
// in the community's time zone (GET /config's time_zone), with UTC on hover (<Time>).

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

/** Base units of FLEX -> "12.34 FLEX": for the token itself (wallet, deposit, allowance). */
export function formatFlex(base: bigint | number | string): string {
  return `${formatTokens(base)} FLEX`;
}

/** Base units (micro-euros) -> "€ 12.34": always the cents, more decimals only when the
 *  amount has them (an escrow of 371400 is "€ 0.3714"), so nothing is rounded away. */
export function formatEuro(base: bigint | number | string | null | undefined): string {
  if (base === null || base === undefined || base === "") return "–";
  const v = BigInt(base);
  const neg = v < 0n;
  const abs = neg ? -v : v;
  const unit = 10n ** BigInt(TOKEN_DECIMALS);
  const whole = abs / unit;
  let frac = (abs % unit).toString().padStart(TOKEN_DECIMALS, "0").replace(/0+$/, "");
  frac = frac.padEnd(2, "0");
  return `${neg ? "-" : ""}€ ${whole.toLocaleString("en-US")}.${frac}`;
}

/** Base units per kWh (micro-euros per kWh) -> "12.34 ct/kWh" (10,000 base units = 1 ct).
 *  A mean (a float) is rounded to hundredths of a cent. */
export function formatPrice(basePerKwh: number | bigint | null | undefined): string {
  if (basePerKwh === null || basePerKwh === undefined) return "–";
  const n = typeof basePerKwh === "bigint" ? basePerKwh : BigInt(Math.round(Number(basePerKwh)));
  const neg = n < 0n;
  const abs = neg ? -n : n;
  const whole = abs / 10_000n;
  let frac = (abs % 10_000n).toString().padStart(4, "0").replace(/0+$/, "");
  if (typeof basePerKwh === "number" && !Number.isInteger(basePerKwh)) frac = frac.slice(0, 2).replace(/0+$/, "");
  return `${neg ? "-" : ""}${whole.toLocaleString("en-US")}${frac ? "." + frac : ""} ct/kWh`;
}

/** "€ 12.34" or "12.34" (euros) -> base units; throws a readable Error for anything else. */
export function parseEuro(text: string): bigint {
  return parseTokens(text.replace(/^\s*€\s*/, ""), TOKEN_DECIMALS);
}

/** "12.5" (euro cents per kWh) -> base units per kWh (125,000); at most 4 decimals. */
export function parseCtPerKwh(text: string): bigint {
  const t = text.trim().replace(/\s*ct(\/kWh)?$/i, "");
  if (!/^\d+(\.\d+)?$/.test(t)) throw new Error(`"${text}" is not a price in cents per kWh (e.g. 12.5)`);
  const [whole, frac = ""] = t.split(".");
  if (frac.length > 4) throw new Error(`at most 4 decimals of a cent, got "${text}"`);
  return BigInt(whole) * 10_000n + BigInt(frac.padEnd(4, "0") || "0");
}

// ---- times: the community's zone, UTC on hover ------------------------------------------

let zone = "UTC";

/** The community's time zone (GET /config's time_zone); an unknown name keeps UTC. */
export function setTimeZone(name: string | null | undefined): void {
  if (!name) return;
  try {
    new Intl.DateTimeFormat("en-GB", { timeZone: name });
    zone = name;
  } catch {
    zone = "UTC";
  }
}

export function timeZone(): string {
  return zone;
}

const fmtCache = new Map<string, Intl.DateTimeFormat>();
function fmt(tz: string): Intl.DateTimeFormat {
  let f = fmtCache.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-GB", {
      timeZone: tz,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
      timeZoneName: "short",
    });
    fmtCache.set(tz, f);
  }
  return f;
}

/** Unix seconds -> "2026-11-26 15:15 CET" in `tz` (default: the community's zone). */
export function formatTime(s: number | bigint | null | undefined, tz: string = zone): string {
  if (s === null || s === undefined) return "–";
  const parts: Record<string, string> = {};
  for (const p of fmt(tz).formatToParts(new Date(Number(s) * 1000))) parts[p.type] = p.value;
  const name = tz === "UTC" || tz === "Etc/UTC" ? "UTC" : parts.timeZoneName;
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${name}`;
}

/** Unix seconds -> "2026-11-26 14:15 UTC" (the hover text of every shown time). */
export function formatUtc(s: number | bigint | null | undefined): string {
  if (s === null || s === undefined) return "–";
  return new Date(Number(s) * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

/** A participant: its display name when the API gives one, else the short address. */
export function displayName(address: string | null | undefined, name?: string | null): string {
  if (!address) return "–";
  return name ? name : shortAddress(address);
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
