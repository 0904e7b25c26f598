// Errors into words: a contract's custom error decoded with the ABIs (what it means comes
// from the contracts' NatSpec, served by /config), wallet rejections, network problems.
import type { Abi } from "viem";

type AbiError = Extract<Abi[number], { type: "error" }>;
import { ApiError } from "./api";
import type { AppConfig } from "./config";
import { formatEuro, formatPrice, formatTime, formatUtc } from "./format";

export interface Problem {
  title: string;
  detail?: string;
  errorName?: string;
}

/** Every custom error of every served ABI, once each (for errors bubbling up from calls). */
export function allErrors(cfg: Pick<AppConfig, "abis">): AbiError[] {
  const seen = new Set<string>();
  const out: AbiError[] = [];
  for (const abi of Object.values(cfg.abis) as Abi[]) {
    for (const item of abi) {
      if (item.type === "error" && !seen.has(item.name)) {
        seen.add(item.name);
        out.push(item);
      }
    }
  }
  return out;
}

const MONEY_ARG = /^(escrow|needed|available|required|orderBond|maxPayout|balance|allowance|amount|bond|payout|refund|deposit|value)$/i;
const TIME_ARG = /(^nowS?$|^intervalStart$|^windowStart$|^deliveryStart$|^optInDeadline$|^closesAt$|^opensAt$|^challengeEnds$|^revealDeadline$|^startS$|^gateClosure$|^deadline$)/;

/** A value as people read it: money in euros and prices in ct/kWh (the base units after them),
 *  times in the community's zone (UTC after them), by the argument's name. */
function fmtArg(v: unknown, name = ""): string {
  if (typeof v === "bigint" && /PerKwh$/.test(name)) return `${formatPrice(v)} (${v} base units/kWh)`;
  if (typeof v === "bigint" && MONEY_ARG.test(name)) return `${formatEuro(v)} (${v} base units)`;
  if (typeof v === "bigint" && TIME_ARG.test(name) && v > 1_000_000_000n && v < 10_000_000_000n) return `${formatTime(v)} (${formatUtc(v)})`;
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "string" && /^0x[0-9a-fA-F]{64}$/.test(v)) {
    // bytes32 text (grid areas, meter ids) reads as text when it is printable
    const clean = v.slice(2).replace(/(00)+$/, "");
    if (clean.length && clean.length % 2 === 0) {
      const chars = clean.match(/../g)!.map((h) => parseInt(h, 16));
      if (chars.every((c) => c >= 32 && c < 127)) return `"${String.fromCharCode(...chars)}"`;
    }
  }
  return String(v);
}

/** "A bid needs more free deposit than `account` has." with the values put in. */
export function explainCustomError(
  name: string,
  args: readonly unknown[] | undefined,
  cfg: Pick<AppConfig, "abis" | "errors">,
): Problem {
  const def = allErrors(cfg).find((e) => e.name === name);
  const named: [string, string][] = (def?.inputs ?? []).map((inp, i) => [
    inp.name || `arg${i}`,
    fmtArg(args?.[i], inp.name),
  ]);
  let words = cfg.errors[name] ?? "";
  for (const [k, v] of named) words = words.split("`" + k + "`").join(v);
  const values = named.map(([k, v]) => `${k} = ${v}`).join(", ");
  return {
    title: `The contract refused the transaction: ${name}`,
    detail: [words, values && `(${values})`].filter(Boolean).join(" "),
    errorName: name,
  };
}

interface ViemLike {
  name?: string;
  shortMessage?: string;
  message?: string;
  code?: number;
  data?: { errorName?: string; args?: readonly unknown[] } | string;
  cause?: unknown;
  walk?: (fn?: (e: unknown) => boolean) => unknown;
}

function chain(e: unknown): ViemLike[] {
  const out: ViemLike[] = [];
  let cur: unknown = e;
  for (let i = 0; cur && i < 12; i++) {
    out.push(cur as ViemLike);
    cur = (cur as ViemLike).cause;
  }
  return out;
}

/** Any thrown thing -> a title and a detail a person can act on. */
export function describeError(e: unknown, cfg?: Pick<AppConfig, "abis" | "errors"> | null): Problem {
  if (e instanceof ApiError) {
    if (e.code === "network") return { title: "Network problem", detail: e.message };
    if (e.status === 401) return { title: "Please log in again", detail: e.message };
    return { title: `The API refused the request (${e.status})`, detail: e.message };
  }
  const links = chain(e);
  for (const l of links) {
    if (l.name === "ContractFunctionRevertedError" && typeof l.data === "object" && l.data?.errorName) {
      if (cfg) return explainCustomError(l.data.errorName, l.data.args, cfg);
      return { title: `The contract refused the transaction: ${l.data.errorName}`, errorName: l.data.errorName };
    }
  }
  for (const l of links) {
    if (l.name === "UserRejectedRequestError" || l.code === 4001) {
      return { title: "You rejected the request in your wallet", detail: "Nothing was sent." };
    }
    if (l.name === "ChainMismatchError") {
      return { title: "Your wallet is on another network", detail: l.shortMessage ?? l.message };
    }
    if (l.name === "HttpRequestError" || l.name === "TimeoutError") {
      return {
        title: "Network problem: the chain does not answer",
        detail: `${l.shortMessage ?? l.message ?? ""} Check your connection and that the platform runs.`,
      };
    }
  }
  for (const l of links) {
    if (l.name === "ContractFunctionRevertedError") {
      return { title: "The contract refused the transaction", detail: l.shortMessage ?? l.message };
    }
  }
  const first = links[0];
  if (e instanceof Error || first?.message) {
    return { title: "Something went wrong", detail: first?.shortMessage ?? first?.message ?? String(e) };
  }
  return { title: "Something went wrong", detail: String(e) };
}
