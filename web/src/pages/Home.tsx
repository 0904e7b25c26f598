// Member: home devices (status from the gateway) and comfort preferences.
import { useEffect, useState, type FormEvent } from "react";
import { Field, Loading, NeedsLogin, Panel, ProblemBox, StatusLine } from "../components/ui";
import { TableBox } from "../components/TableBox";
import { Time } from "../components/values";
import { useLoad } from "../lib/hooks";
import { useApp } from "../state";

type Prefs = Record<string, string | number | null>;

const PREF_FIELDS: { key: string; label: string; kind: "number" | "mode" }[] = [
  { key: "temperature_min_c", label: "Lowest comfortable temperature (°C)", kind: "number" },
  { key: "temperature_max_c", label: "Highest comfortable temperature (°C)", kind: "number" },
  { key: "humidity_min_rh", label: "Lowest humidity (%RH)", kind: "number" },
  { key: "humidity_max_rh", label: "Highest humidity (%RH)", kind: "number" },
  { key: "co2_limit_ppm", label: "Advise ventilating above CO₂ (ppm)", kind: "number" },
  { key: "mode", label: "Mode", kind: "mode" },
];

export default function HomePage() {
  const { me } = useApp();
  return (
    <>
      <h1>My home</h1>
      {me ? <HomeBody /> : <NeedsLogin role="a member" />}
    </>
  );
}

function HomeBody() {
  const { api, tick } = useApp();
  const devices = useLoad(() => api.get<{ data: Record<string, unknown>[] }>("/devices"), [api, tick]);
  return (
    <div className="grid">
      <Panel title="Devices">
        <ProblemBox error={devices.error} />
        {!devices.data ? (
          !devices.error && <Loading what="devices" />
        ) : devices.data.data.length === 0 ? (
          <p>No device reported yet.</p>
        ) : (
          <TableBox label="Devices" file="devices">
            <table data-testid="devices">
              <caption className="sr-only">Devices and their last values</caption>
              <thead>
                <tr>
                  <th scope="col">Device</th>
                  <th scope="col">Role</th>
                  <th scope="col">Online</th>
                  <th scope="col">Battery</th>
                  <th scope="col">Last seen</th>
                  <th scope="col">Last values</th>
                </tr>
              </thead>
              <tbody>
                {devices.data.data.map((d, i) => (
                  <tr key={String(d.device_id ?? i)}>
                    <td>{String(d.device_id ?? "–")}</td>
                    <td>
                      {String(d.role ?? "–")} ({String(d.adapter ?? "–")})
                    </td>
                    <td>{d.online === undefined || d.online === null ? "–" : d.online ? "yes" : "no"}</td>
                    <td>{d.battery_pct === undefined || d.battery_pct === null ? "–" : `${d.battery_pct} %`}</td>
                    <td>{typeof d.last_seen_s === "number" ? <Time s={d.last_seen_s} /> : "–"}</td>
                    <td>{valuesText(d)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        )}
      </Panel>
      <Panel title="Comfort preferences">
        <Preferences />
      </Panel>
    </div>
  );
}

/** "energy: 2,870,919 Wh, power: 310 W" from the gateway's last value per property. */
export function valuesText(d: Record<string, unknown>): string {
  const v = d.values as Record<string, { value?: unknown; unit?: string } | unknown> | undefined;
  if (!v || typeof v !== "object" || Object.keys(v).length === 0) return "–";
  return Object.entries(v)
    .slice(0, 6)
    .map(([k, x]) => {
      if (x && typeof x === "object" && "value" in x) {
        const { value, unit } = x as { value: unknown; unit?: string };
        const shown = typeof value === "number" ? value.toLocaleString("en-US") : String(value);
        return `${k}: ${shown}${unit ? ` ${unit}` : ""}`;
      }
      return `${k}: ${String(x)}`;
    })
    .join(", ");
}

function Preferences() {
  const { api } = useApp();
  const loaded = useLoad(() => api.get<{ preferences: Prefs }>("/preferences"), [api]);
  const [form, setForm] = useState<Prefs>({});
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (loaded.data) setForm(loaded.data.preferences);
  }, [loaded.data]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const body: Prefs = {};
      for (const f of PREF_FIELDS) {
        const v = form[f.key];
        if (v === undefined || v === null || v === "") continue;
        if (f.kind === "number") {
          const n = Number(v);
          if (!Number.isFinite(n)) throw new Error(`${f.label} must be a number`);
          body[f.key] = n;
        } else body[f.key] = String(v);
      }
      const r = await api.put<{ preferences: Prefs; commands: unknown[] }>("/preferences", body);
      setForm(r.preferences);
      setStatus(`Saved. The comfort rules sent ${r.commands.length} device command(s).`);
    } catch (err) {
      setStatus(null);
      setError(err);
    }
  };
  if (loaded.error) return <ProblemBox error={loaded.error} />;
  if (!loaded.data) return <Loading what="preferences" />;
  return (
    <form onSubmit={submit} className="cols" data-testid="preferences">
      {PREF_FIELDS.filter((f) => f.key in form).map((f) => (
        <Field key={f.key} label={f.label}>
          {(id) =>
            f.kind === "mode" ? (
              <select id={id} value={String(form[f.key] ?? "comfort")} onChange={(e) => setForm({ ...form, [f.key]: e.target.value })}>
                <option value="comfort">comfort</option>
                <option value="economy">economy</option>
              </select>
            ) : (
              <input id={id} inputMode="decimal" value={String(form[f.key] ?? "")} onChange={(e) => setForm({ ...form, [f.key]: e.target.value })} />
            )
          }
        </Field>
      ))}
      <button type="submit" className="wide">
        Save preferences
      </button>
      <div className="wide">
        <StatusLine text={status} />
        <ProblemBox error={error} onDismiss={() => setError(null)} />
      </div>
    </form>
  );
}
