// GET /config: chain, contracts, ABIs, error texts, whether the dev wallet may be offered.
import type { Abi } from "viem";

export type ContractName = "ParticipantRegistry" | "FlexToken" | "FlexMarket" | "FlexCoordination";

export interface DevAccount {
  name: string;
  role: string;
  address: `0x${string}`;
  private_key: `0x${string}`;
}

export interface AppConfig {
  chain_id: number;
  rpc_url: string;
  contracts: Record<ContractName, `0x${string}`>;
  abis: Record<ContractName, Abi>;
  errors: Record<string, string>;
  token_decimals: number;
  interval_s: number;
  /** The community's time zone (IANA name); times are shown in it, UTC on hover. */
  time_zone?: string;
  dev_wallet: boolean;
  dev_accounts: DevAccount[];
}

export const DEV_CHAIN_ID = 31337;

/** The development wallet is offered only when the API allows it and on the dev chain. */
export function devWalletAllowed(c: AppConfig): boolean {
  return c.dev_wallet && c.chain_id === DEV_CHAIN_ID && c.dev_accounts.length > 0;
}
