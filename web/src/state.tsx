// What every page shares: the config, the API client (with the token), the wallet, who is
// logged in, a refresh tick bumped by the live event feed, and the chain's clock.
import { createContext, useContext } from "react";
import type { Api } from "./lib/api";
import type { Wallet } from "./lib/chain";
import type { AppConfig } from "./lib/config";
import type { Me } from "./lib/session";

export interface AppState {
  cfg: AppConfig;
  api: Api;
  wallet: Wallet | null;
  me: Me | null;
  /** Bumped when the live feed reports new chain events (pages reload on it). */
  tick: number;
  /** The latest block's timestamp (the demo chain runs faster than the wall clock). */
  chainNow: number | null;
  live: "off" | "connecting" | "live" | "error";
  refresh: () => void;
}

export const AppContext = createContext<AppState | null>(null);

export function useApp(): AppState {
  const s = useContext(AppContext);
  if (!s) throw new Error("useApp outside AppContext");
  return s;
}

export function hasRole(me: Me | null, ...roles: string[]): boolean {
  return !!me && roles.some((r) => me.roles.includes(r));
}
