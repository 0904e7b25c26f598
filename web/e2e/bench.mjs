// `bright bench ui` (bright/bench_ui.py runs this): the JavaScript the market page loads
// (gzipped) and the time from navigation to the market page being usable, median of N loads
// in headless Chromium, each in a fresh browser context (cold cache). Usable: the sessions and
// the order book rendered and the order form in its final state, enabled for an open session
// (the performance mark "bright:market-ready" set by the page). A session is opened first (as
// the demo's market operator) so that the form is enabled. Prints one JSON line.
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";
import { createWalletClient, createPublicClient, http, getAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { injectWallet } from "./wallet.mjs";

const url = (process.env.BRIGHT_UI_URL ?? "http://127.0.0.1:8000/").replace(/\/?$/, "/");
const loads = Number(process.env.BRIGHT_BENCH_LOADS ?? "5");
const api = async (path, init) => {
  const res = await fetch(url + path.replace(/^\//, ""), init);
  const body = await res.json();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
  return body;
};
const cfg = await api("/config");
const pick = (name) => {
  const a = cfg.dev_accounts.find((x) => x.name === name);
  if (!a) throw new Error(`bench ui needs the local demo's accounts (${name} is not in /config)`);
  return a;
};
const chain = { id: cfg.chain_id, name: "bench", nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 }, rpcUrls: { default: { http: [cfg.rpc_url] } } };

// An open session (the operator opens one 6 h ahead on the chain's clock).
const operator = privateKeyToAccount(pick("market-operator").private_key);
const pub = createPublicClient({ chain, transport: http(cfg.rpc_url) });
const now = Number((await pub.getBlock()).timestamp);
const start = Math.ceil((now + 6 * 3600) / 900) * 900;
const wc = createWalletClient({ account: operator, chain, transport: http(cfg.rpc_url) });
const hash = await wc.writeContract({
  address: cfg.contracts.FlexMarket, abi: cfg.abis.FlexMarket, functionName: "openSession",
  // The session's terms as one struct (as the operator page sends them, pages/Operator.tsx).
  args: [{
    deliveryStart: BigInt(start), durationS: 900, gateClosure: BigInt(start - 300), revealDeadline: 0n, product: 0, rule: 0,
    sealedBids: false, gridArea: `0x${"00".repeat(32)}`, toleranceBp: 1000, penaltyPerKwh: 50_000, orderBond: 100_000n,
    baselineIntervals: 1, baselineGapIntervals: 0, settleDelayS: 900,
  }],
});
await pub.waitForTransactionReceipt({ hash });

// A logged-in member (SIWE through the API, as the page does), restored by the page.
const member = pick("home-01");
const acct = privateKeyToAccount(member.private_key);
const nonce = await api("/auth/nonce");
const iso = (d) => d.toISOString().replace(/\.\d{3}Z$/, "Z");
const issued = new Date();
const message = [
  `${nonce.domain} wants you to sign in with your Ethereum account:`, getAddress(acct.address), "",
  `URI: ${nonce.uri}`, "Version: 1", `Chain ID: ${nonce.chain_id}`, `Nonce: ${nonce.nonce}`,
  `Issued At: ${iso(issued)}`, `Expiration Time: ${iso(new Date(issued.getTime() + 240_000))}`,
].join("\n");
const token = await api("/auth/login", {
  method: "POST", headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ message, signature: await acct.signMessage({ message }) }),
});
const saved = JSON.stringify({ address: token.address, roles: token.roles, token: token.access_token, expiresAt: token.expires_at, walletKind: "injected" });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const times = [];
let js = null;
try {
  for (let i = 0; i < loads; i++) {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    await injectWallet(ctx, { privateKey: member.private_key, rpcUrl: cfg.rpc_url, chainId: cfg.chain_id });
    await ctx.addInitScript((s) => sessionStorage.setItem("bright.session", s), saved);
    const page = await ctx.newPage();
    const scripts = [];
    page.on("response", async (r) => {
      if (r.request().resourceType() === "script" && r.url().startsWith(url)) scripts.push(r);
    });
    await page.goto(url + "#/market");
    const ready = await page.waitForFunction(() => performance.getEntriesByName("bright:market-ready")[0]?.startTime, null, { timeout: 30_000, polling: 50 });
    times.push((await ready.jsonValue()) / 1000);
    const enabled = await page.getByTestId("place-order").isEnabled();
    if (!enabled) throw new Error("the market page became ready with the order form disabled");
    if (js === null) {
      js = {};
      for (const r of scripts) {
        const body = await r.body();
        js[new URL(r.url()).pathname] = { raw: body.length, gzip: gzipSync(body, { level: 9 }).length };
      }
    }
    await ctx.close();
  }
} finally {
  await browser.close();
}
const sorted = [...times].sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)];
const gz = Object.values(js).reduce((a, f) => a + f.gzip, 0);
const raw = Object.values(js).reduce((a, f) => a + f.raw, 0);
console.log(JSON.stringify({
  js_gzip_bytes: gz, js_raw_bytes: raw, js_files: js, ready_s_median: Number(median.toFixed(3)),
  ready_s_loads: times.map((t) => Number(t.toFixed(3))), loads, session_opened: start,
  browser: `chromium ${browser.version()}`,
}));
