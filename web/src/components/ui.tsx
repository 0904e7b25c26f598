import { useId, type ReactNode } from "react";
import { useApp } from "../state";
import { describeError } from "../lib/errors";

/** An error in words, announced to screen readers. */
export function ProblemBox({ error, onDismiss }: { error: unknown; onDismiss?: () => void }) {
  const { cfg } = useApp();
  if (!error) return null;
  const p = describeError(error, cfg);
  return (
    <div className="problem" role="alert" data-error-name={p.errorName ?? ""}>
      <strong>{p.title}</strong>
      {p.detail && <p>{p.detail}</p>}
      {onDismiss && (
        <button type="button" className="link" onClick={onDismiss}>
          Dismiss
        </button>
      )}
    </div>
  );
}

export function StatusLine({ text }: { text: string | null }) {
  return (
    <p className="status" role="status" aria-live="polite">
      {text ?? ""}
    </p>
  );
}

/** A titled section; `wide` spans the page's grid (for wide tables and charts). */
export function Panel({ title, children, id, wide }: { title: string; children: ReactNode; id?: string; wide?: boolean }) {
  const hid = useId();
  return (
    <section className={wide ? "panel wide" : "panel"} aria-labelledby={hid} id={id}>
      <h2 id={hid}>{title}</h2>
      {children}
    </section>
  );
}

export function Field({
  label,
  children,
  hint,
}: {
  label: string;
  children: (id: string, hintId?: string) => ReactNode;
  hint?: string;
}) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children(id, hintId)}
      {hint && (
        <small id={hintId} className="hint">
          {hint}
        </small>
      )}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return <p className="muted" role="status">Loading {what} …</p>;
}

export function NeedsLogin({ role }: { role?: string }) {
  return (
    <p className="notice">
      Connect your wallet and log in{role ? ` as ${role}` : ""} to see this page.
    </p>
  );
}
