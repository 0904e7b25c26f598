// End-to-end tests of the web UI in real headless Chromium (Debian's /usr/bin/chromium, driven
// by playwright-core) against a running `bright up` (tests/web/test_ui_e2e.py starts one).
//
// Personas log in with an injected EIP-1193 test wallet backed by a demo key (./wallet.mjs).
// Scenarios (BRIGHT_E2E_SCENARIOS, comma separated; default all):
//   market  the operator opens a session; a member places a bid (sees it in the book and in
//           its orders), a bid it cannot cover is refused with the decoded custom error,
//           a second member offers, and the first sees the match after the clearing
//   sealed  the operator opens a sealed session; a member commits a sealed bid, reveals it
//           after the gate (from this browser's kept salt) and sees it in its orders
//   devwallet  without a browser wallet, the clearly marked development wallet logs in as a
//           chosen demo account (the aggregator) and signs a deposit into the market
//   dso     the DSO publishes a request (approve + publishRequest)
//   optin   a member opts in to it and sees its opt-in in its standing
//   targets the member then sees its targets once the coordination service proposes the
//           coalition. The service sizes a member's offer from its forecasts or recent metered
//           import, and a lone PV home exports on sunny afternoons (offers nothing), so with
//           this scenario the request's window is put at night by the chain's clock (UTC hours
//           0 to 11, when the replayed homes import), waiting for it if needed
// The member's "Home twin" page (a twin the test put into the read models) is checked too, and
// its "Control" page (the policies compared, the controller's status: or their empty states).
// Every main page is checked with axe-core (no serious or critical violation) and
// screenshotted into BRIGHT_UI_SCREENSHOTS (default reports/ui-screenshots); at 1280x800 no
// table may be wider than its container (and that view is screenshotted too).
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { injectWallet } from "./wallet.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const url = (process.env.BRIGHT_UI_URL ?? "http://127.0.0.1:8000/").replace(/\/?$/, "/");
const shots = process.env.BRIGHT_UI_SCREENSHOTS ?? path.resolve(here, "../../reports/ui-screenshots");
const scenarios = new Set((process.env.BRIGHT_E2E_SCENARIOS ?? "market,sealed,devwallet,dso,optin,targets").split(",").map((s) => s.trim()).filter(Boolean));
const sessionStartsIn = process.env.BRIGHT_E2E_SESSION_MINUTES ?? "120";
let optInMinutes = process.env.BRIGHT_E2E_OPTIN_MINUTES ?? "60";
let windowMinutes = process.env.BRIGHT_E2E_WINDOW_MINUTES ?? "240";
// Small enough for the feeder's forecast flexibility (the coalition service forms the
// coalition from the members' forecasts, within the tolerance).
const requestWh = process.env.BRIGHT_E2E_REQUEST_WH ?? (scenarios.has("targets") ? "40" : "150");
let targetsWaitS = 0;
const axePath = require.resolve("axe-core/axe.min.js");
mkdirSync(shots, { recursive: true });

const t0 = Date.now();
const log = (...a) => console.log(`[e2e +${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const failures = [];
const axeProblems = [];

const cfg = await (await fetch(url + "config")).json();
if (!cfg.dev_accounts?.length) throw new Error(`${url}config lists no demo accounts: run against a local bright up`);
const account = (name) => {
  const a = cfg.dev_accounts.find((x) => x.name === name);
  if (!a) throw new Error(`no demo account ${name}`);
  return a;
};

async function chainNow() {
  const r = await fetch(cfg.rpc_url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_getBlockByNumber", params: ["latest", false] }),
  });
  return Number(BigInt((await r.json()).result.timestamp));
}

// A window of 3 intervals inside UTC hours 0-11 of the chain's clock, at least 2 h (chain
// time) ahead so the publish and the opt-in land before the deadline (30 min before it).
function nightWindow(now) {
  let w = Math.ceil((now + 120 * 60) / 900) * 900;
  while (new Date(w * 1000).getUTCHours() > 10) w += 900;
  const minutes = Math.floor((w - now) / 60);
  return { window: String(minutes), optIn: String(minutes - 30), waitS: w - 30 * 60 - now };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});

async function persona(name) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  ctx.setDefaultTimeout(20_000);
  const wallet = await injectWallet(ctx, { privateKey: account(name).private_key, rpcUrl: cfg.rpc_url, chainId: cfg.chain_id });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => log(`${name}: page error: ${e.message}`));
  await page.goto(url + "#/market");
  await page.getByRole("button", { name: "Connect browser wallet" }).waitFor();
  if (name === "home-01") await axe({ page }, "logged-out");
  await page.getByRole("button", { name: "Connect browser wallet" }).click();
  await page.getByRole("button", { name: "Log in with wallet" }).click();
  await page.getByTestId("role").waitFor();
  log(`${name} logged in as ${await page.getByTestId("role").textContent()} (${wallet.address})`);
  return { name, ctx, page, wallet };
}

async function step(name, fn) {
  const start = Date.now();
  try {
    const r = await fn();
    log(`ok   ${name} (${((Date.now() - start) / 1000).toFixed(1)} s)`);
    return r;
  } catch (e) {
    log(`FAIL ${name}: ${e?.message ?? e}`);
    failures.push(`${name}: ${e?.message ?? e}`);
    return undefined;
  }
}

async function shot(p, label) {
  await p.page.screenshot({ path: path.join(shots, `${label}.png`), fullPage: true });
}

async function axe(p, label) {
  await p.page.addScriptTag({ path: axePath });
  const result = await p.page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of bad) axeProblems.push(`${label}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(", ")}`);
  log(`axe ${label}: ${result.length} violations (${result.map((v) => `${v.impact} ${v.id}`).join(", ") || "none"}), ${bad.length} serious or critical`);
}

async function visit(p, route, label, ready) {
  await p.page.goto(url + `#/${route}`);
  await p.page.getByRole("heading", { level: 1 }).waitFor();
  if (ready) await ready();
  await axe(p, label);
  await shot(p, label);
  await fitsAt1280(p, label);
}

// At 1280x800 every table fits its container (no column pushed out of view): for each table,
// its scrolling container's scrollWidth <= clientWidth, and the table no wider than it.
// A screenshot of each page at that size goes to the screenshots folder ("<label>-1280.png").
async function fitsAt1280(p, label) {
  const before = p.page.viewportSize();
  await p.page.setViewportSize({ width: 1280, height: 800 });
  try {
    await p.page.waitForTimeout(300); // layout and charts after the resize
    const wide = await p.page.evaluate(() =>
      Array.from(document.querySelectorAll("main table")).flatMap((t) => {
        const box = t.closest(".scroll") ?? t.parentElement;
        const name = t.getAttribute("data-testid") ?? t.caption?.textContent ?? "table";
        const out = [];
        if (box.scrollWidth > box.clientWidth) out.push(`${name}: content ${box.scrollWidth} px in ${box.clientWidth} px`);
        const w = Math.ceil(t.getBoundingClientRect().width);
        if (w > box.clientWidth + 1) out.push(`${name}: table ${w} px in ${box.clientWidth} px`);
        return out;
      }),
    );
    const tables = await p.page.locator("main table").count();
    log(`fit ${label} at 1280x800: ${tables} tables, ${wide.length ? wide.join("; ") : "all fit"}`);
    for (const w of wide) failures.push(`table wider than its container at 1280 px on ${label}: ${w}`);
    await p.page.screenshot({ path: path.join(shots, `${label}-1280.png`), fullPage: true });
  } finally {
    if (before) await p.page.setViewportSize(before);
  }
}

const statusMatching = (p, re, timeout = 30_000) =>
  p.page.getByRole("status").filter({ hasText: re }).first().waitFor({ timeout });

try {
  const member = await persona("home-01");
  let dso;
  let requestId;

  if (scenarios.has("market")) {
    const operator = await persona("market-operator");
    const seller = await persona("home-02");
    const sessionId = await step("operator opens a session", async () => {
      await operator.page.goto(url + "#/operator");
      const form = operator.page.getByTestId("open-session");
      await form.getByLabel("Delivery starts in (minutes, chain time)").fill(sessionStartsIn);
      await form.getByRole("button", { name: "Open session" }).click();
      const st = operator.page.getByRole("status").filter({ hasText: /Session \d+ opened/ }).first();
      await st.waitFor({ timeout: 30_000 });
      return Number((await st.textContent()).match(/Session (\d+) opened/)[1]);
    });
    if (sessionId) {
      await step("member places a bid signed in its wallet and sees it in the book", async () => {
        const pg = member.page;
        await pg.goto(url + "#/market");
        await pg.getByRole("button", { name: `#${sessionId}`, exact: true }).click();
        await pg.locator(`[data-testid="market"][data-session="${sessionId}"]`).waitFor();
        await pg.getByLabel("Bid (buy flexibility)").check();
        await pg.getByLabel("Quantity (Wh)").fill("500");
        await pg.getByLabel("Price (euro cents per kWh)").fill("15");
        await pg.getByTestId("place-order").click();
        await statusMatching(member, new RegExp(`Your bid of 500 Wh at 15 ct/kWh is in session ${sessionId}`));
        await pg.getByTestId("depth-bids").getByText("15 ct/kWh").waitFor({ timeout: 30_000 });
        await pg.locator(`[data-testid="my-orders"] tr[data-order^="${sessionId}-"]`).first().waitFor({ timeout: 30_000 });
      });
      await step("a bid the member cannot cover is refused with the decoded contract error", async () => {
        const pg = member.page;
        await pg.getByLabel("Quantity (Wh)").fill("100000000");
        await pg.getByLabel("Price (euro cents per kWh)").fill("900");
        await pg.getByTestId("place-order").click();
        const alert = pg.locator('[data-testid="order-form"] [role="alert"][data-error-name="FlexMarketInsufficientDeposit"]');
        await alert.waitFor({ timeout: 30_000 });
        const text = await alert.textContent();
        if (!/more free deposit/.test(text) || !/needed = € 900,000\.10 \(900000100000 base units\)/.test(text)) throw new Error(`unexpected error text: ${text}`);
        await shot(member, "market-rejected-transaction");
      });
      await step("a second member offers in the same session", async () => {
        const pg = seller.page;
        await pg.goto(url + "#/market");
        await pg.getByRole("button", { name: `#${sessionId}`, exact: true }).click();
        await pg.getByLabel("Offer (sell flexibility)").check();
        await pg.getByLabel("Quantity (Wh)").fill("500");
        await pg.getByLabel("Price (euro cents per kWh)").fill("10");
        await pg.getByTestId("place-order").click();
        await statusMatching(seller, new RegExp(`Your offer of 500 Wh at 10 ct/kWh is in session ${sessionId}`));
      });
      await step("the member sees its match after the clearing (live update)", async () => {
        const pg = member.page;
        await pg.locator(`[data-testid="my-matches"] tr[data-match^="${sessionId}-"]`).first().waitFor({ timeout: 150_000 });
        await pg.getByRole("button", { name: `#${sessionId}`, exact: true }).click();
        await pg.getByTestId("session-status").filter({ hasText: /cleared|settled/ }).waitFor();
      });
      await step("after the delivery the seller sees the session settled from its meter data", async () => {
        const pg = seller.page;
        const row = pg.locator(`[data-testid="my-settlements"] tr[data-settlement="${sessionId}-seller"]`);
        await row.waitFor({ timeout: 150_000 });
        const text = await row.textContent();
        if (!/500 Wh/.test(text) || !/€ /.test(text)) throw new Error(`unexpected settlement row: ${text}`);
        await shot(seller, "market-settled-trades");
      });
    }
    await visit(member, "market", "member-market", () => member.page.locator('[data-testid="market"][data-ready="true"]').waitFor());
    await visit(operator, "operator", "operator", () => operator.page.getByTestId("members").waitFor());
    await visit(operator, "dashboards", "operator-dashboards", () => operator.page.getByTestId("health").waitFor({ timeout: 30_000 }));
    await seller.ctx.close();
    await operator.ctx.close();
  }

  if (scenarios.has("sealed")) {
    const operator = await persona("market-operator");
    const sealedId = await step("operator opens a sealed session", async () => {
      await operator.page.goto(url + "#/operator");
      const form = operator.page.getByTestId("open-session");
      await form.getByLabel("Delivery starts in (minutes, chain time)").fill("150");
      await form.getByLabel("Gate closes before delivery (minutes)").fill("90");
      await form.getByLabel("Sealed bids (commit, then reveal)").check();
      await form.getByLabel("Reveal window after the gate (minutes)").fill("90");
      await form.getByRole("button", { name: "Open session" }).click();
      const st = operator.page.getByRole("status").filter({ hasText: /Session \d+ opened/ }).first();
      await st.waitFor({ timeout: 30_000 });
      return Number((await st.textContent()).match(/Session (\d+) opened/)[1]);
    });
    if (sealedId) {
      await step("a member commits a sealed bid, reveals it after the gate and sees it", async () => {
        const pg = member.page;
        await pg.goto(url + "#/market");
        await pg.getByRole("button", { name: `#${sealedId}`, exact: true }).click();
        await pg.getByLabel("Bid (buy flexibility)").check();
        await pg.getByLabel("Quantity (Wh)").fill("300");
        await pg.getByLabel("Price (euro cents per kWh)").fill("13");
        await pg.getByRole("button", { name: "Commit sealed bid" }).click();
        await statusMatching(member, new RegExp(`Your sealed bid is committed to session ${sealedId}`));
        // the chain's clock passes the gate; the reveal button appears
        await pg.getByRole("button", { name: "Reveal", exact: true }).click({ timeout: 90_000 });
        await statusMatching(member, new RegExp(`Your sealed order of 300 Wh is revealed and in the book of session ${sealedId}`));
        await pg.locator(`[data-testid="my-orders"] tr[data-order^="${sealedId}-"]`).first().waitFor({ timeout: 30_000 });
      });
    }
    await operator.ctx.close();
  }

  if (scenarios.has("devwallet")) {
    await step("the development wallet logs in as a chosen demo account and signs", async () => {
      const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
      ctx.setDefaultTimeout(20_000);
      const pg = await ctx.newPage();
      await pg.goto(url + "#/market");
      const dev = pg.getByRole("group", { name: /Development wallet \(local demo chain only; public test keys\)/ });
      await dev.getByLabel("Demo account").selectOption({ label: "aggregator (aggregator)" });
      await dev.getByRole("button", { name: "Use development wallet" }).click();
      await pg.getByRole("button", { name: "Log in with wallet" }).click();
      await pg.getByTestId("role").filter({ hasText: "Aggregator" }).waitFor();
      await pg.getByText("development wallet", { exact: true }).waitFor();
      await pg.getByLabel("Deposit (FLEX)").fill("1");
      await pg.getByRole("button", { name: "Approve and deposit" }).click();
      await pg.getByRole("status").filter({ hasText: "Deposited 1 FLEX into the market." }).waitFor({ timeout: 30_000 });
      await ctx.close();
    });
  }

  if (scenarios.has("dso") || scenarios.has("optin") || scenarios.has("targets")) {
    dso = await persona("dso");
    if (scenarios.has("optin") || scenarios.has("targets")) {
      await member.page.goto(url + "#/requests");
      await member.page.getByRole("heading", { name: "DSO flexibility requests" }).waitFor();
    }
    requestId = await step("the DSO publishes a request (approve + publishRequest)", async () => {
      const pg = dso.page;
      await pg.goto(url + "#/dso");
      const form = pg.getByTestId("request-form");
      if (scenarios.has("targets") && !process.env.BRIGHT_E2E_WINDOW_MINUTES) {
        const now = await chainNow();
        const night = nightWindow(now);
        ({ window: windowMinutes, optIn: optInMinutes } = night);
        targetsWaitS = night.waitS;
        log(`chain time ${new Date(now * 1000).toISOString()}: window in ${windowMinutes} min, opt-ins close in ${optInMinutes} min`);
      }
      await form.getByLabel("Window starts in (minutes, chain time)").fill(windowMinutes);
      await form.getByLabel("Opt-ins close in (minutes, chain time)").fill(optInMinutes);
      await form.getByLabel("Intervals (15 min each)").fill("3");
      await form.getByLabel("Flexibility per interval (Wh)").fill(requestWh);
      await form.getByLabel("Tolerance (%)").fill("30");
      await form.getByTestId("publish-request").click();
      const st = pg.getByRole("status").filter({ hasText: /Request \d+ published/ }).first();
      await st.waitFor({ timeout: 45_000 });
      const id = Number((await st.textContent()).match(/Request (\d+) published/)[1]);
      await pg.locator(`[data-testid="requests"] tr[data-request="${id}"]`).waitFor({ timeout: 30_000 });
      return id;
    });
  }

  if ((scenarios.has("optin") || scenarios.has("targets")) && requestId) {
    await step("a member opts in to the request", async () => {
      const pg = member.page;
      await pg.locator(`[data-testid="requests"] tr[data-request="${requestId}"]`).waitFor({ timeout: 30_000 });
      await pg.getByRole("button", { name: `#${requestId}`, exact: true }).click();
      await pg.getByLabel("Most you offer per interval (Wh)").fill("2000");
      await pg.getByTestId("opt-in").click();
      await statusMatching(member, new RegExp(`You opted in to request ${requestId}`));
      const mine = pg.getByTestId(`my-request-${requestId}`);
      await mine.waitFor({ timeout: 30_000 });
      await mine.getByTestId("my-optin-status").filter({ hasText: /opted in|in the coalition|a reserve/ }).waitFor();
    });
  }
  if (scenarios.has("targets") && requestId) {
    await step("the member sees its targets once the coalition is proposed", async () => {
      // Chain time runs ~150x faster than the wall clock in the demo: wait for the deadline
      // (converted at 100x, generously) plus the proposal.
      const timeout = 150_000 + Math.ceil(targetsWaitS / 100) * 1000;
      await member.page.getByTestId(`my-targets-${requestId}`).waitFor({ timeout });
      await shot(member, "member-coalition-targets");
    });
  }

  await step("the pages work from the keyboard (skip link, navigation)", async () => {
    const pg = member.page;
    await pg.goto(url + "#/market");
    await pg.reload(); // a fresh document: the session comes back from this tab, no prompt
    await pg.getByTestId("role").waitFor();
    await pg.getByTestId("market").waitFor();
    await pg.keyboard.press("Tab");
    const skip = await pg.evaluate(() => document.activeElement?.textContent);
    if (skip !== "Skip to content") throw new Error(`the first Tab reached ${skip}, not the skip link`);
    let reached = "";
    for (let i = 0; i < 10 && reached !== "My energy"; i++) {
      await pg.keyboard.press("Tab");
      reached = await pg.evaluate(() => document.activeElement?.textContent ?? "");
    }
    if (reached !== "My energy") throw new Error("Tab never reached the 'My energy' link");
    await pg.keyboard.press("Enter");
    await pg.getByRole("heading", { level: 1, name: "My energy" }).waitFor();
  });
  await visit(member, "requests", "member-requests", () => member.page.getByRole("heading", { name: /My coalitions/ }).waitFor());
  await visit(member, "energy", "member-energy", () => member.page.getByText(/intervals committed on-chain/).waitFor({ timeout: 30_000 }));
  await visit(member, "home", "member-home", () => member.page.getByRole("heading", { name: "Comfort preferences" }).waitFor());
  await step("a member names itself and adds an asset in its profile", async () => {
    const form = member.page.getByTestId("profile");
    await form.waitFor();
    await form.getByLabel("Display name").fill("Anna (e2e)");
    await form.getByLabel("Asset kind").selectOption("battery");
    await form.getByLabel("Power (kW)").fill("5");
    await form.getByLabel("Capacity (kWh)").fill("10");
    await form.getByRole("button", { name: "Add asset" }).click();
    await form.getByRole("button", { name: "Save profile" }).click();
    await statusMatching(member, /Profile saved/);
    await form.getByTestId("assets").getByText(/battery, 5 kW, 10 kWh/).waitFor();
  });
  await visit(member, "twin", "member-twin", () => member.page.getByTestId("twin-scenarios").waitFor({ timeout: 30_000 }));
  await step("the member sees its home's twin: measured against simulated, and the what-if scenarios", async () => {
    const pg = member.page;
    await pg.getByTestId("twin-fit").filter({ hasText: /within [\d.]+ °C RMSE/ }).waitFor();
    const charts = pg.locator("main figure.chart");
    await charts.nth(1).waitFor();
    const titles = await charts.locator("figcaption").allTextContents();
    if (!/Indoor temperature/.test(titles[0] ?? "") || !/Heating and cooling energy/.test(titles[1] ?? "")) throw new Error(`unexpected charts: ${titles.join(" | ")}`);
    if ((await pg.locator("main figure.chart canvas").count()) < 2) throw new Error("the charts drew nothing");
    const rows = pg.locator('[data-testid="twin-scenarios"] tbody tr');
    if ((await rows.count()) < 2) throw new Error("fewer than two scenarios in the table");
    const other = await rows.nth(1).getAttribute("data-scenario");
    await pg.getByRole("radio", { name: `Show ${other} in the charts` }).check();
    await pg.locator(`main figure.chart [role="img"][aria-label*="Scenario ${other}"]`).first().waitFor();
    await shot(member, "member-twin-scenario");
  });
  // The "Control" page: the policies compared on the member's home and over the community, and
  // what the controller did. Whatever the run stored: a comparison (the table and both charts) or
  // the empty state that says how one is made; the same for the status and the community.
  const controlReady = (id) => member.page.locator(`[data-testid="${id}"], [data-testid="no-${id}"]`).first().waitFor({ timeout: 30_000 });
  await visit(member, "control", "member-control", async () => {
    await controlReady("control-compare");
    await controlReady("control-status");
    await member.page.locator('[data-testid="control-community"], [data-testid="control-community-suppressed"], [data-testid="no-control-community"]').first().waitFor({ timeout: 30_000 });
  });
  await step("the member compares the control policies on its home and sees what the controller did", async () => {
    const pg = member.page;
    if ((await pg.getByTestId("control-kpis").count()) > 0) {
      const rows = pg.locator('[data-testid="control-kpis"] tbody tr');
      if ((await rows.first().getAttribute("data-policy")) !== "bau") throw new Error("business as usual is not the first row");
      if ((await rows.count()) < 2) throw new Error("fewer than two policies in the table");
      const titles = await pg.locator("main figure.chart figcaption").allTextContents();
      if (!/Indoor temperature under each policy/.test(titles[0] ?? "") || !/Net import under each policy/.test(titles[1] ?? "")) throw new Error(`unexpected charts: ${titles.join(" | ")}`);
      if ((await pg.locator("main figure.chart canvas").count()) < 2) throw new Error("the charts drew nothing");
    } else {
      await pg.getByTestId("no-control-compare").filter({ hasText: /bright control compare/ }).waitFor();
    }
    if ((await pg.getByTestId("control-steps").count()) > 0) {
      const first = pg.locator('[data-testid="control-steps"] tbody tr').first();
      if (!((await first.locator("td").last().textContent()) ?? "").trim()) throw new Error("a step without its reason");
      await pg.getByTestId("control-comfort").waitFor();
    }
    // keyboard: the home's table region takes the focus
    const region = pg.getByRole("region", { name: /\(table\)$/ }).first();
    if ((await region.count()) > 0) {
      await region.focus();
      const focused = await pg.evaluate(() => document.activeElement?.getAttribute("aria-label") ?? "");
      if (!/\(table\)$/.test(focused)) throw new Error(`the table region did not take the focus (${focused})`);
    }
    await shot(member, "member-control-compare");
  });
  await visit(member, "dashboards", "member-dashboards", () => member.page.getByTestId("member-kpis").waitFor({ timeout: 30_000 }));
  if (dso) {
    await visit(dso, "dso", "dso", async () => {
      await dso.page.getByTestId("request-form").waitFor();
      if (requestId) await dso.page.getByTestId("request-intervals").waitFor({ timeout: 30_000 });
    });
    await visit(dso, "dashboards", "dso-dashboards", () => dso.page.getByTestId("dso-kpis").waitFor({ timeout: 30_000 }));
  }
} catch (e) {
  failures.push(`unexpected: ${e?.stack ?? e}`);
} finally {
  await browser.close();
}

for (const p of axeProblems) failures.push(`axe: ${p}`);
log(`screenshots in ${shots}`);
if (failures.length) {
  console.error(`\n${failures.length} failure(s):\n- ${failures.join("\n- ")}`);
  process.exit(1);
}
log("all scenarios passed");
