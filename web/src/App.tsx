import { lazy, Suspense, useCallback, useEffect, useMemo, useState } from "react";
import { LoginPanel } from "./components/Login";
import { Loading, ProblemBox } from "./components/ui";
import { Api } from "./lib/api";
import { chainTime, type Wallet } from "./lib/chain";
import type { AppConfig } from "./lib/config";
import { followFeed } from "./lib/events";
import { setTimeZone } from "./lib/format";
import { Time } from "./components/values";
import { forgetSession, login, savedSession, type Me } from "./lib/session";
import { connectDev, connectInjected } from "./lib/wallet";
import { MarketPage } from "./pages/Market";
import { AppContext, type AppState } from "./state";

const EnergyPage = lazy(() => import("./pages/Energy"));
const HomePage = lazy(() => import("./pages/Home"));
const TwinPage = lazy(() => import("./pages/Twin"));
const ControlPage = lazy(() => import("./pages/Control"));
const RequestsPage = lazy(() => import("./pages/Requests"));
const DsoPage = lazy(() => import("./pages/Dso"));
const OperatorPage = lazy(() => import("./pages/Operator"));
const DashboardsPage = lazy(() => import("./pages/Dashboards"));

export const ROUTES = [
  { path: "market", label: "Market" },
  { path: "energy", label: "My energy" },
  { path: "home", label: "My home" },
  { path: "twin", label: "Home twin" },
  { path: "control", label: "Control" },
  { path: "requests", label: "DSO requests" },
  { path: "dso", label: "DSO" },
  { path: "operator", label: "Operator" },
  { path: "dashboards", label: "Dashboards" },
] as const;

export function routeOf(hash: string): string {
  const p = hash.replace(/^#\/?/, "").split(/[/?]/)[0];
  return ROUTES.some((r) => r.path === p) ? p : "market";
}

function useHashRoute(): string {
  const [route, setRoute] = useState(() => routeOf(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(routeOf(window.location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

export function App() {
  const [cfg, setCfg] = useState<AppConfig | null>(null);
  const [cfgError, setCfgError] = useState<unknown>(null);
  useEffect(() => {
    new Api().get<AppConfig>("/config").then((c) => {
      setTimeZone(c.time_zone);
      setCfg(c);
    }, setCfgError);
  }, []);
  if (cfgError) {
    return (
      <main className="page">
        <h1>BRIGHT flexibility marketplace</h1>
        <ProblemBoxNoCfg error={cfgError} />
      </main>
    );
  }
  if (!cfg) return <main className="page"><Loading what="the platform's configuration" /></main>;
  return <Shell cfg={cfg} />;
}

function ProblemBoxNoCfg({ error }: { error: unknown }) {
  const msg = error instanceof Error ? error.message : String(error);
  return (
    <div className="problem" role="alert">
      <strong>The platform does not answer</strong>
      <p>{msg}</p>
    </div>
  );
}

function Shell({ cfg }: { cfg: AppConfig }) {
  const route = useHashRoute();
  const [me, setMe] = useState<Me | null>(null);
  const [wallet, setWallet] = useState<Wallet | null>(null);
  const [tick, setTick] = useState(0);
  const [chainNow, setChainNow] = useState<number | null>(null);
  const [live, setLive] = useState<AppState["live"]>("off");
  const [restoreError, setRestoreError] = useState<unknown>(null);
  const api = useMemo(() => new Api(me?.token ?? null), [me]);
  const refresh = useCallback(() => setTick((t) => t + 1), []);

  // A saved session (this tab) comes back with its wallet, without prompting.
  useEffect(() => {
    const saved = savedSession();
    if (!saved) return;
    const again = saved.walletKind === "dev" ? connectDev(cfg, saved.address) : connectInjected(cfg, true);
    again.then(
      (w) => {
        if (w.address.toLowerCase() !== saved.address.toLowerCase()) throw new Error("the wallet's account changed; log in again");
        setWallet(w);
        setMe(saved);
      },
      (e) => {
        forgetSession();
        setRestoreError(e);
      },
    );
  }, [cfg]);

  const logout = useCallback(() => {
    forgetSession();
    setMe(null);
    setWallet(null);
  }, []);

  // Another account chosen in the browser wallet: that is another person; log out.
  useEffect(() => {
    const eth = window.ethereum;
    if (!eth?.on || wallet?.kind !== "injected") return;
    const onAccounts = (accounts: string[]) => {
      if (!accounts.length || accounts[0].toLowerCase() !== wallet.address.toLowerCase()) logout();
    };
    eth.on("accountsChanged", onAccounts as never);
    return () => eth.removeListener?.("accountsChanged", onAccounts as never);
  }, [wallet, logout]);

  useEffect(() => {
    if (!me) {
      setLive("off");
      return;
    }
    const feed = followFeed(me.token, () => setTick((t) => t + 1), setLive, logout);
    return () => feed.close();
  }, [me, logout]);

  useEffect(() => {
    let live = true;
    const read = () =>
      chainTime(cfg).then(
        (t) => live && setChainNow(t),
        () => live && setChainNow(null),
      );
    read();
    const id = setInterval(read, 3000);
    return () => {
      live = false;
      clearInterval(id);
    };
  }, [cfg, tick]);

  const actions = {
    connectInjected: async () => setWallet(await connectInjected(cfg)),
    connectDev: async (address: string) => setWallet(await connectDev(cfg, address)),
    login: async () => {
      if (!wallet) throw new Error("connect a wallet first");
      setMe(await login(new Api(), wallet));
    },
    logout,
  };

  const state: AppState = { cfg, api, wallet, me, tick, chainNow, live, refresh };
  return (
    <AppContext.Provider value={state}>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <div className="brand">
          <strong>BRIGHT</strong> flexibility marketplace
          {cfg.chain_id === 31337 && <span className="devbadge">local demo chain</span>}
        </div>
        <nav aria-label="Pages">
          <ul>
            {ROUTES.map((r) => (
              <li key={r.path}>
                <a href={`#/${r.path}`} aria-current={route === r.path ? "page" : undefined}>
                  {r.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <LoginPanel actions={actions} />
      </header>
      <aside className="statusbar" aria-label="Connection">
        <span>
          Chain {cfg.chain_id} · chain time <span data-testid="chain-time"><Time s={chainNow} /></span>
        </span>
        <span data-testid="live" className={`live-${live}`}>
          Live updates: {live === "live" ? "on" : live === "connecting" ? "connecting …" : live === "error" ? "disconnected" : "off"}
        </span>
      </aside>
      <main id="main" className="page" tabIndex={-1}>
        {restoreError ? <ProblemBox error={restoreError} onDismiss={() => setRestoreError(null)} /> : null}
        <Suspense fallback={<Loading what="the page" />}>
          {route === "market" && <MarketPage />}
          {route === "energy" && <EnergyPage />}
          {route === "home" && <HomePage />}
          {route === "twin" && <TwinPage />}
          {route === "control" && <ControlPage />}
          {route === "requests" && <RequestsPage />}
          {route === "dso" && <DsoPage />}
          {route === "operator" && <OperatorPage />}
          {route === "dashboards" && <DashboardsPage />}
        </Suspense>
      </main>
    </AppContext.Provider>
  );
}
