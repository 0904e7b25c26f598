// How values are shown everywhere: money in euros, prices in ct/kWh, times in the community's
// zone with UTC on hover, participants by name with the address on hover. Each carries its
// raw value (data-raw, data-unit) so a table's CSV export can add it (lib/csv.ts).
import { displayName, formatEuro, formatPrice, formatTime, formatUtc, formatWh } from "../lib/format";

export const RAW_MONEY = "FLEX base units = micro-euros";
export const RAW_PRICE = "FLEX base units per kWh";
export const RAW_TIME = "unix s";

export function Time({ s }: { s: number | null | undefined }) {
  if (s === null || s === undefined) return <>–</>;
  return (
    <time dateTime={new Date(s * 1000).toISOString()} title={formatUtc(s)} data-raw={s} data-unit={RAW_TIME}>
      {formatTime(s)}
    </time>
  );
}

export function Euro({ base, sign }: { base: string | number | bigint | null | undefined; sign?: "+" | "−" }) {
  if (base === null || base === undefined) return <>–</>;
  return (
    <span data-raw={String(base)} data-unit={RAW_MONEY}>
      {sign ?? ""}
      {formatEuro(base)}
    </span>
  );
}

export function Price({ perKwh }: { perKwh: number | bigint | null | undefined }) {
  if (perKwh === null || perKwh === undefined) return <>–</>;
  return (
    <span data-raw={String(perKwh)} data-unit={RAW_PRICE}>
      {formatPrice(perKwh)}
    </span>
  );
}

export function Energy({ wh }: { wh: number | null | undefined }) {
  if (wh === null || wh === undefined) return <>–</>;
  return (
    <span data-raw={wh} data-unit="Wh">
      {formatWh(wh)}
    </span>
  );
}

/** A participant: "Name" with the address on hover when the API names it, else the short
 *  address (the full one on hover). */
export function Who({ address, name }: { address: string | null | undefined; name?: string | null }) {
  if (!address) return <>–</>;
  return (
    <span title={address} data-raw={address} data-unit="address">
      {displayName(address, name)}
    </span>
  );
}
