// Reads from the chain (JSON-RPC from /config) and transactions signed in the user's wallet.
import {
  createPublicClient,
  defineChain,
  http,
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
  type WalletClient,
} from "viem";
import type { AppConfig, ContractName } from "./config";
import { allErrors } from "./errors";

export function brightChain(cfg: AppConfig): Chain {
  return defineChain({
    id: cfg.chain_id,
    name: cfg.chain_id === 31337 ? "BRIGHT local demo chain" : `BRIGHT chain ${cfg.chain_id}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [cfg.rpc_url] } },
  });
}

const clients = new WeakMap<AppConfig, PublicClient>();

export function publicClient(cfg: AppConfig): PublicClient {
  let c = clients.get(cfg);
  if (!c) {
    c = createPublicClient({
      chain: brightChain(cfg),
      transport: http(cfg.rpc_url, { retryCount: 1, timeout: 15_000 }),
    }) as PublicClient;
    clients.set(cfg, c);
  }
  return c;
}

/** The contract's ABI with every other served contract's errors (a revert can bubble up from
 * a call into another contract, e.g. the token's allowance check). */
export function abiWithErrors(cfg: AppConfig, name: ContractName): Abi {
  const own = cfg.abis[name];
  const names = new Set(own.filter((i) => i.type === "error").map((i) => (i as { name: string }).name));
  return [...own, ...allErrors(cfg).filter((e) => !names.has(e.name))];
}

export interface Wallet {
  kind: "injected" | "dev";
  label: string;
  address: Address;
  client: WalletClient;
  /** What to pass as `account` when writing: a local account (dev) or the address. */
  account: Account | Address;
  signMessage(message: string): Promise<Hex>;
}

export interface TxCall {
  contract: ContractName;
  functionName: string;
  args: readonly unknown[];
}

/** Simulate (so a refusal is decoded before the wallet asks), sign in the wallet, wait for the
 * receipt. Throws viem errors; describeError() turns them into words. */
export async function sendTx(
  cfg: AppConfig,
  wallet: Wallet,
  call: TxCall,
  onStatus?: (s: string) => void,
): Promise<TransactionReceipt> {
  const pc = publicClient(cfg);
  const abi = abiWithErrors(cfg, call.contract);
  const address = cfg.contracts[call.contract];
  onStatus?.(`Checking ${call.functionName} …`);
  const { request } = await pc.simulateContract({
    address,
    abi,
    functionName: call.functionName,
    args: call.args,
    account: wallet.address,
  } as never);
  onStatus?.(`Confirm ${call.functionName} in your wallet …`);
  const hash = await wallet.client.writeContract({
    ...(request as object),
    account: wallet.account,
    chain: brightChain(cfg),
  } as never);
  onStatus?.(`Sent ${hash.slice(0, 10)}…, waiting for it to be mined …`);
  const receipt = await pc.waitForTransactionReceipt({ hash, pollingInterval: 250 });
  if (receipt.status !== "success") {
    throw new Error(`the transaction ${hash} was mined but reverted`);
  }
  return receipt;
}

export async function readContract<T>(
  cfg: AppConfig,
  contract: ContractName,
  functionName: string,
  args: readonly unknown[] = [],
): Promise<T> {
  return (await publicClient(cfg).readContract({
    address: cfg.contracts[contract],
    abi: cfg.abis[contract],
    functionName,
    args,
  } as never)) as T;
}

/** The chain's clock: the latest block's timestamp (the demo chain runs ahead of the wall). */
export async function chainTime(cfg: AppConfig): Promise<number> {
  const b = await publicClient(cfg).getBlock({ blockTag: "latest" });
  return Number(b.timestamp);
}
