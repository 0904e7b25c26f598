// Connect a wallet and log in with it (Sign-In with Ethereum -> API token); shows who you are.
import { useState } from "react";
import { devWalletAllowed } from "../lib/config";
import { ROLE_LABELS } from "../lib/session";
import { hasInjected } from "../lib/wallet";
import { useApp } from "../state";
import { ProblemBox, StatusLine } from "./ui";
import { shortAddress } from "../lib/format";

export interface LoginActions {
  connectInjected: () => Promise<void>;
  connectDev: (address: string) => Promise<void>;
  login: () => Promise<void>;
  logout: () => void;
}

export function LoginPanel({ actions }: { actions: LoginActions }) {
  const { cfg, wallet, me } = useApp();
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const dev = devWalletAllowed(cfg);
  const [devAddr, setDevAddr] = useState(() => cfg.dev_accounts.find((a) => a.role === "prosumer")?.address ?? "");

  const run = async (what: string, fn: () => Promise<void>) => {
    setBusy(what);
    setError(null);
    try {
      await fn();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  };

  if (me) {
    return (
      <div className="login" aria-label="Your account">
        <span className="who" data-testid="who">
          <span className="addr" title={me.address}>{shortAddress(me.address)}</span>{" "}
          <span className="role" data-testid="role">
            {me.roles.length ? me.roles.map((r) => ROLE_LABELS[r] ?? r).join(", ") : "not a registered participant"}
          </span>
          {wallet?.kind === "dev" && <span className="devbadge">development wallet</span>}
        </span>
        <button type="button" onClick={actions.logout}>
          Log out
        </button>
      </div>
    );
  }
  return (
    <div className="login" aria-label="Wallet and login">
      {!wallet ? (
        <>
          <button
            type="button"
            disabled={!!busy || !hasInjected()}
            title={hasInjected() ? "" : "No browser wallet (EIP-1193) found"}
            onClick={() => run("Connecting …", actions.connectInjected)}
          >
            Connect browser wallet
          </button>
          {dev && (
            <fieldset className="devwallet">
              <legend>Development wallet (local demo chain only; public test keys)</legend>
              <label htmlFor="dev-account">Demo account</label>
              <select id="dev-account" value={devAddr} onChange={(e) => setDevAddr(e.target.value)}>
                {cfg.dev_accounts.map((a) => (
                  <option key={a.address} value={a.address}>
                    {a.name} ({a.role})
                  </option>
                ))}
              </select>
              <button type="button" disabled={!!busy || !devAddr} onClick={() => run("Connecting …", () => actions.connectDev(devAddr))}>
                Use development wallet
              </button>
            </fieldset>
          )}
        </>
      ) : (
        <>
          <span className="who">
            {wallet.label}: <span title={wallet.address}>{shortAddress(wallet.address)}</span>
          </span>
          <button type="button" disabled={!!busy} onClick={() => run("Sign the login message in your wallet …", actions.login)}>
            Log in with wallet
          </button>
          <button type="button" className="link" onClick={actions.logout}>
            Disconnect
          </button>
        </>
      )}
      <StatusLine text={busy} />
      <ProblemBox error={error} onDismiss={() => setError(null)} />
    </div>
  );
}
