// Login with the wallet: an EIP-4361 message signed in the wallet -> the API's access token.
import { getAddress } from "viem";
import type { Api, Nonce, Token } from "./api";
import type { Wallet } from "./chain";
import { siweMessage } from "./siwe";

export interface Me {
  address: string;
  roles: string[];
  token: string;
  expiresAt: number;
  walletKind: "injected" | "dev";
}

const KEY = "bright.session";

export async function login(api: Api, wallet: Wallet): Promise<Me> {
  const n = await api.get<Nonce>("/auth/nonce");
  const now = new Date();
  const message = siweMessage({
    domain: n.domain,
    address: getAddress(wallet.address),
    uri: n.uri,
    chainId: n.chain_id,
    nonce: n.nonce,
    issuedAt: now,
    expiresAt: new Date(Math.min(now.getTime() + 5 * 60_000, n.expires_at * 1000)),
    statement: "Sign in to BRIGHT.",
  });
  const signature = await wallet.signMessage(message);
  const t = await api.post<Token>("/auth/login", { message, signature });
  const me: Me = {
    address: t.address,
    roles: t.roles,
    token: t.access_token,
    expiresAt: t.expires_at,
    walletKind: wallet.kind,
  };
  try {
    sessionStorage.setItem(KEY, JSON.stringify(me));
  } catch {
    /* private mode: the session lasts as long as the page */
  }
  return me;
}

export function savedSession(nowS = Date.now() / 1000): Me | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const me = JSON.parse(raw) as Me;
    return me.expiresAt > nowS + 5 ? me : null;
  } catch {
    return null;
  }
}

export function forgetSession(): void {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    /* nothing saved */
  }
}

export const ROLE_LABELS: Record<string, string> = {
  prosumer: "Member (prosumer)",
  aggregator: "Aggregator",
  dso: "DSO (grid operator)",
  oracle: "Oracle",
  "market-operator": "Market operator",
};
