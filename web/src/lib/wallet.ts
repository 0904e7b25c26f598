// Wallets: any EIP-1193 provider (window.ethereum, e.g. MetaMask) through viem, and for the
// local demo only the development wallet (demo keys; loaded on demand, in its own chunk).
import { createWalletClient, custom, getAddress, numberToHex, type EIP1193Provider } from "viem";
import { brightChain, type Wallet } from "./chain";
import { devWalletAllowed, type AppConfig } from "./config";

declare global {
  interface Window {
    ethereum?: EIP1193Provider;
  }
}

export function hasInjected(): boolean {
  return typeof window !== "undefined" && !!window.ethereum;
}

async function ensureChain(provider: EIP1193Provider, cfg: AppConfig): Promise<void> {
  const current = Number(await provider.request({ method: "eth_chainId" }));
  if (current === cfg.chain_id) return;
  const chainId = numberToHex(cfg.chain_id);
  try {
    await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
  } catch {
    await provider.request({
      method: "wallet_addEthereumChain",
      params: [
        {
          chainId,
          chainName: brightChain(cfg).name,
          nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
          rpcUrls: [cfg.rpc_url],
        },
      ],
    });
  }
  const after = Number(await provider.request({ method: "eth_chainId" }));
  if (after !== cfg.chain_id) {
    throw new Error(`Your wallet is on chain ${after}; switch it to chain ${cfg.chain_id} (${cfg.rpc_url}).`);
  }
}

/** Connect the browser wallet; `silent` only uses an already granted account (no prompt). */
export async function connectInjected(cfg: AppConfig, silent = false): Promise<Wallet> {
  const provider = window.ethereum;
  if (!provider) throw new Error("No browser wallet found: install one (e.g. MetaMask) or use the development wallet on the local demo.");
  const accounts = (await provider.request({
    method: silent ? "eth_accounts" : "eth_requestAccounts",
  } as never)) as string[];
  if (!accounts?.length) throw new Error("The wallet shared no account.");
  await ensureChain(provider, cfg);
  const address = getAddress(accounts[0]);
  const client = createWalletClient({ account: address, chain: brightChain(cfg), transport: custom(provider) });
  return {
    kind: "injected",
    label: "Browser wallet",
    address,
    client,
    account: address,
    signMessage: (message) => client.signMessage({ account: address, message }),
  };
}

export async function connectDev(cfg: AppConfig, address: string): Promise<Wallet> {
  if (!devWalletAllowed(cfg)) throw new Error("The development wallet is only for the local demo chain.");
  const acct = cfg.dev_accounts.find((a) => a.address.toLowerCase() === address.toLowerCase());
  if (!acct) throw new Error(`${address} is not a demo account`);
  const { devWallet } = await import("./devWallet");
  return devWallet(cfg, acct);
}
