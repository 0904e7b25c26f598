// A test wallet for the browser: an EIP-1193 provider injected with page.addInitScript whose
// requests are answered here, in Node, with a demo account's key (viem): accounts, chain id,
// personal_sign and eth_sendTransaction are the wallet's; everything else goes to the RPC.
import { createWalletClient, http, numberToHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";

export async function injectWallet(context, { privateKey, rpcUrl, chainId }) {
  const account = privateKeyToAccount(privateKey);
  const chain = {
    id: chainId,
    name: "e2e",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  };
  const client = createWalletClient({ account, chain, transport: http(rpcUrl) });
  const sent = [];
  let queue = Promise.resolve();
  const rpc = async (method, params) => {
    const res = await fetch(rpcUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    });
    const body = await res.json();
    if (body.error) {
      const err = new Error(body.error.message);
      err.code = body.error.code;
      err.data = body.error.data;
      throw err;
    }
    return body.result;
  };
  const handle = async (method, params) => {
    switch (method) {
      case "eth_requestAccounts":
      case "eth_accounts":
        return [account.address];
      case "eth_chainId":
        return numberToHex(chainId);
      case "wallet_switchEthereumChain":
      case "wallet_addEthereumChain":
        return null;
      case "personal_sign":
        return account.signMessage({ message: { raw: params[0] } });
      case "eth_sendTransaction": {
        const tx = params[0];
        // one transaction at a time: the nonce comes from the node
        const run = queue.then(() =>
          client.sendTransaction({
            to: tx.to,
            data: tx.data,
            value: tx.value ? BigInt(tx.value) : 0n,
            gas: tx.gas ? BigInt(tx.gas) : undefined,
          }),
        );
        queue = run.catch(() => undefined);
        const hash = await run;
        sent.push(hash);
        return hash;
      }
      default:
        return rpc(method, params);
    }
  };
  await context.exposeBinding("__e2eWallet", async (_source, method, params) => {
    try {
      return { ok: await handle(method, params ?? []) };
    } catch (e) {
      return { error: { message: String(e?.shortMessage ?? e?.message ?? e), code: e?.code ?? -32603, data: e?.data } };
    }
  });
  await context.addInitScript(() => {
    const listeners = {};
    window.ethereum = {
      isBrightE2E: true,
      async request({ method, params }) {
        const r = await window.__e2eWallet(method, params ?? []);
        if (r.error) {
          const err = new Error(r.error.message);
          err.code = r.error.code;
          err.data = r.error.data;
          throw err;
        }
        return r.ok;
      },
      on(name, fn) {
        (listeners[name] ??= []).push(fn);
      },
      removeListener(name, fn) {
        listeners[name] = (listeners[name] ?? []).filter((f) => f !== fn);
      },
    };
  });
  return { address: account.address, sent };
}
