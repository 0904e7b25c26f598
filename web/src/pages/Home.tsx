// Member: own profile (display name, flexible assets), home devices (status from the gateway)
// and comfort preferences.
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
      <Panel title="My profile">
        <Profile />
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

type Asset = { kind: string; power_kw: number; capacity_kwh?: number | null; label?: string | null };
type ProfileData = { account: string; display_name: string | null; assets: Asset[] };

const ASSET_KINDS = ["heat-pump", "battery", "ev-charger", "pv"] as const;

/** The asset as PUT /profile takes it (a battery with its capacity, the others without). */
export function assetBody(a: Asset): Asset {
  const out: Asset = { kind: a.kind, power_kw: Number(a.power_kw) };
  if (a.kind === "battery") out.capacity_kwh = Number(a.capacity_kwh);
  if (a.label) out.label = a.label;
  return out;
}

/** A new asset from the form's text fields, or the reason it is refused. */
export function parseAsset(kind: string, power: string, capacity: string): Asset | string {
  const p = Number(power);
  if (!power || !Number.isFinite(p) || p <= 0) return "Power must be a number of kW above 0.";
  if (kind !== "battery") return { kind, power_kw: p };
  const c = Number(capacity);
  if (!capacity || !Number.isFinite(c) || c <= 0) return "A battery needs its capacity in kWh, above 0.";
  return { kind, power_kw: p, capacity_kwh: c };
}

function Profile() {
  const { api } = useApp();
  const loaded = useLoad(() => api.get<ProfileData>("/profile"), [api]);
  const [name, setName] = useState("");
  const [assets, setAssets] = useState<Asset[]>([]);
  const [kind, setKind] = useState<string>("heat-pump");
  const [power, setPower] = useState("");
  const [capacity, setCapacity] = useState("");
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (!loaded.data) return;
    setName(loaded.data.display_name ?? "");
    setAssets(loaded.data.assets);
  }, [loaded.data]);
  const add = () => {
    const a = parseAsset(kind, power, capacity);
    if (typeof a === "string") {
      setError(new Error(a));
      return;
    }
    setError(null);
    setAssets([...assets, a]);
    setPower("");
    setCapacity("");
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const body: { display_name?: string; assets: Asset[] } = { assets: assets.map(assetBody) };
      if (name.trim()) body.display_name = name.trim();
      const r = await api.put<ProfileData>("/profile", body);
      setName(r.display_name ?? "");
      setAssets(r.assets);
      setStatus("Profile saved. Other members see your name where they may see your address.");
    } catch (err) {
      setStatus(null);
      setError(err);
    }
  };
  if (loaded.error) return <ProblemBox error={loaded.error} />;
  if (!loaded.data) return <Loading what="your profile" />;
  return (
    <form onSubmit={submit} className="cols" data-testid="profile">
      <Field label="Display name">
        {(id) => <input id={id} value={name} maxLength={64} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <div className="wide">
        {assets.length === 0 ? (
          <p>No flexible asset yet.</p>
        ) : (
          <ul data-testid="assets">
            {assets.map((a, i) => (
              <li key={`${a.kind}-${i}`}>
                {a.kind}, {a.power_kw} kW{a.kind === "battery" && a.capacity_kwh ? `, ${a.capacity_kwh} kWh` : ""}
                {a.label ? ` (${a.label})` : ""}{" "}
                <button type="button" onClick={() => setAssets(assets.filter((_, j) => j !== i))}>
                  Remove {a.kind} {i + 1}
                </button>
              </li>
            ))}
          </ul>
        )}
      </div>
      <Field label="Asset kind">
        {(id) => (
          <select id={id} value={kind} onChange={(e) => setKind(e.target.value)}>
            {ASSET_KINDS.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Power (kW)">
        {(id) => <input id={id} inputMode="decimal" value={power} onChange={(e) => setPower(e.target.value)} />}
      </Field>
      {kind === "battery" && (
        <Field label="Capacity (kWh)">
          {(id) => <input id={id} inputMode="decimal" value={capacity} onChange={(e) => setCapacity(e.target.value)} />}
        </Field>
      )}
      <button type="button" onClick={add}>
        Add asset
      </button>
      <button type="submit" className="wide">
        Save profile
      </button>
      <div className="wide">
        <StatusLine text={status} />
        <ProblemBox error={error} onDismiss={() => setError(null)} />
      </div>
    </form>
  );
}
