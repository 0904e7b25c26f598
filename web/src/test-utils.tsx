// Component-test helpers: the app's context with a config, an API answering from a table of
// routes, and optionally a wallet.
import { render } from "@testing-library/react";
import type { ReactNode } from "react";
import { Api } from "./lib/api";
import type { Wallet } from "./lib/chain";
import type { AppConfig } from "./lib/config";
import type { Me } from "./lib/session";
import { AppContext, type AppState } from "./state";

export function testConfig(over: Partial<AppConfig> = {}): AppConfig {
  return {
    chain_id: 31337,
    rpc_url: "http://127.0.0.1:1",
    contracts: {
      ParticipantRegistry: "0x0000000000000000000000000000000000000001",
      FlexToken: "0x0000000000000000000000000000000000000002",
      FlexMarket: "0x0000000000000000000000000000000000000003",
      FlexCoordination: "0x0000000000000000000000000000000000000004",
    },
    abis: { ParticipantRegistry: [], FlexToken: [], FlexMarket: [], FlexCoordination: [] },
    errors: {},
    token_decimals: 6,
    interval_s: 900,
    dev_wallet: true,
    dev_accounts: [
      { name: "home-01", role: "prosumer", address: "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc", private_key: `0x${"11".repeat(32)}` },
    ],
    ...over,
  };
}

export function routesApi(routes: Record<string, unknown>): Api {
  return new Api("token", "", (async (url: RequestInfo | URL) => {
    const path = String(url).split("?")[0];
    if (!(path in routes)) return new Response(JSON.stringify({ error: { code: "not_found", message: `no ${path}` } }), { status: 404 });
    return new Response(JSON.stringify(routes[path]), { status: 200 });
  }) as typeof fetch);
}

export const ME: Me = {
  address: "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
  roles: ["prosumer"],
  token: "token",
  expiresAt: 4_000_000_000,
  walletKind: "injected",
};

export function renderIn(ui: ReactNode, state: Partial<AppState>) {
  const value: AppState = {
    cfg: testConfig(),
    api: routesApi({}),
    wallet: null,
    me: null,
    tick: 0,
    chainNow: 1_000,
    live: "off",
    refresh: () => undefined,
    ...state,
  };
  return render(<AppContext.Provider value={value}>{ui}</AppContext.Provider>);
}

export const FAKE_WALLET = { kind: "injected", label: "Browser wallet", address: ME.address } as unknown as Wallet;
