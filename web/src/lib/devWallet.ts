// The development wallet: signs locally with a demo account's public development key.
// Only for the local demo chain (see config.devWalletAllowed); in its own chunk.
import { createWalletClient, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { brightChain, type Wallet } from "./chain";
import type { AppConfig, DevAccount } from "./config";

export function devWallet(cfg: AppConfig, acct: DevAccount): Wallet {
  const account = privateKeyToAccount(acct.private_key);
  const client = createWalletClient({ account, chain: brightChain(cfg), transport: http(cfg.rpc_url) });
  return {
    kind: "dev",
    label: `Development wallet: ${acct.name}`,
    address: account.address,
    client,
    account,
    signMessage: (message) => account.signMessage({ message }),
  };
}
