// The REST API (same origin): JSON in and out, every error as {error: {code, message}}.

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface Page<T> {
  data: T[];
  count: number;
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export class Api {
  constructor(
    private token: string | null = null,
    private base = "",
    private fetcher: typeof fetch = (...a) => fetch(...a),
  ) {}

  get accessToken(): string | null {
    return this.token;
  }

  async request<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await this.fetcher(this.base + withQuery(path, query), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(
        `Cannot reach the BRIGHT API (${path}): check your network connection and that the platform runs.`,
        0,
        "network",
        String(e),
      );
    }
    let payload: unknown = null;
    const text = await res.text();
    if (text) {
      try {
        payload = JSON.parse(text);
      } catch {
        payload = text;
      }
    }
    if (!res.ok) {
      const err = (payload as { error?: { code?: string; message?: string; details?: unknown } })?.error;
      throw new ApiError(
        err?.message ?? `The API answered ${res.status} ${res.statusText} for ${path}`,
        res.status,
        err?.code ?? "http_error",
        err?.details,
      );
    }
    return payload as T;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>("GET", path, undefined, query);
  }
  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("POST", path, body);
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PUT", path, body);
  }
}

// ---- shapes of the API (api/schemas.py) -------------------------------------------------

export interface Nonce {
  nonce: string;
  expires_at: number;
  domain: string;
  uri: string;
  chain_id: number;
}
export interface Token {
  access_token: string;
  expires_at: number;
  address: string;
  roles: string[];
}
export interface Session {
  session_id: number;
  market: string;
  grid_area: string;
  status: string;
  delivery_start_s: number;
  duration_s: number;
  gate_closure_s: number;
  reveal_deadline_s: number;
  product: number;
  rule: number;
  sealed_bids: boolean;
  order_count: number;
  cancel_count: number;
  price_per_kwh: number | null;
  volume_wh: number | null;
  match_count: number | null;
  escrowed: string | null;
  tolerance_bp?: number;
  penalty_per_kwh?: number;
  order_bond?: string;
  earned?: string | null;
  penalties?: string | null;
  refunds?: string | null;
  settled_block?: number | null;
}
/** One settled session of the member: as a seller (delivery, earning, penalty) or as a buyer
 *  (what its filled bids paid and got back). GET /trade-settlements. */
export interface TradeSettlement {
  session_id: number;
  delivery_start_s: number;
  settled_block: number;
  trader: string;
  side: "seller" | "buyer";
  filled_wh: number;
  delivered_wh: number | null;
  credited_wh: number | null;
  shortfall_wh: number | null;
  missing_data: boolean | null;
  earned: string | null;
  penalty: string | null;
  paid: string | null;
  refund: string | null;
}
export interface DepthLevel {
  price_per_kwh: number;
  qty_wh: number;
}
export interface Depth {
  session_id: number;
  status: string;
  bids: DepthLevel[];
  offers: DepthLevel[];
}
export interface Order {
  session_id: number;
  order_id: number;
  trader: string;
  side: "bid" | "offer";
  qty_wh: number;
  price_per_kwh: number;
  grid_area: string;
  cancelled: boolean;
  filled_wh: number;
  placed_block: number;
  tx_hash: string;
  paid?: string | null;
  refund?: string | null;
  /** Its session's status now (open, cleared, voided, settled). */
  session_status?: string | null;
  /** From the order's row and its session's status (api/schemas.py order_state). */
  state?: OrderState;
}
export type OrderState = "open" | "cancelled" | "voided" | "filled" | "partly_filled" | "unfilled";
export interface Match {
  session_id: number;
  bid_id: number;
  offer_id: number;
  qty_wh: number;
  price_per_kwh: number;
  block_number: number;
  my_side: "bid" | "offer" | "both" | null;
}
export interface SessionSummary {
  session_id: number;
  grid_area: string;
  delivery_start_s: number;
  match_count: number;
  volume_wh: number;
  min_price_per_kwh: number | null;
  max_price_per_kwh: number | null;
  avg_price_per_kwh: number | null;
}
export interface Balance {
  token: string;
  account: string;
  balance: string;
}
export interface Participant {
  account: string;
  role: string;
  grid_area: string;
  active: boolean;
  meter_id: string | null;
  aggregator: string | null;
  /** Shown when the API has it (display names are being added): else the short address. */
  display_name?: string | null;
  aggregator_name?: string | null;
}
export interface MeterInterval {
  interval_start_s: number;
  import_wh: number;
  export_wh: number;
  corrected: boolean;
}
export interface Forecast {
  interval_start_s: number;
  q10_wh: number;
  q50_wh: number;
  q90_wh: number;
  model_version: string;
}
/** Where a stored series of a twin lies in time. GET /twin. */
export interface TwinSeriesInfo {
  start_s: number;
  step_s: number;
  length: number;
  end_s: number;
}
export interface TwinScenario {
  name: string;
  description: string;
  config: Record<string, unknown>;
  /** heat_kwh, electricity_kwh, fuel_kwh, comfort_kh (K·h outside the comfort band), mean_indoor_c */
  totals: Record<string, number | null>;
  series: TwinSeriesInfo;
}
/** A home's thermal twin without its series. GET /twin, /twin/{address}. */
export interface Twin {
  account: string;
  home_id: string;
  created_s: number;
  stored_s: number;
  inputs_sha256: string;
  params: Record<string, unknown>;
  fit: Record<string, unknown>;
  measured: TwinSeriesInfo | null;
  scenarios: TwinScenario[];
}
/** Values at a fixed step (an empty list: the home has no such quantity). */
export interface TwinValues {
  start_s: number;
  step_s: number;
  indoor_c: (number | null)[];
  heat_wh: (number | null)[];
  electricity_wh: (number | null)[];
  fuel_wh: (number | null)[];
  outdoor_c: (number | null)[];
  setpoint_c: (number | null)[];
}
/** Measured and simulated series over a window. GET /twin/series. */
export interface TwinSeries {
  account: string;
  home_id: string;
  scenario: string;
  from_s: number;
  to_s: number;
  measured: TwinValues | null;
  simulated: TwinValues;
}

// ---- control over the thermal twins (GET /control/...) --------------------------------

export type ControlPolicy = "bau" | "rule" | "mpc" | "rl";
export type ControlKpi = "cost" | "emissions_kg" | "peak_kw" | "violation_kh" | "tracking_kwh" | "import_kwh";
/** A policy's totals over the period. */
export type ControlKpis = Record<ControlKpi, number>;
/** Totals divided by business as usual's (null: business as usual's is 0). */
export type ControlRatios = Record<ControlKpi, number | null>;
export interface ControlPolicyResult {
  totals: ControlKpis;
  ratios_to_bau: ControlRatios;
  decision_ms: number;
}
export interface ControlSeries {
  start_s: number;
  step_s: number;
  band_low_c: (number | null)[];
  band_high_c: (number | null)[];
  policies: Partial<Record<ControlPolicy, { indoor_c: (number | null)[]; net_import_w: (number | null)[] }>>;
}
/** A home's comparison of the control policies. GET /control/compare, /control/{address}/compare. */
export interface ControlComparison {
  account: string;
  stored_s: number;
  period: { start_s: number; step_s: number; steps: number; homes: number; end_s: number };
  cost_function: { weights: Record<string, number>; feed_in_share: number };
  policies: Partial<Record<ControlPolicy, ControlPolicyResult>>;
  series: ControlSeries;
}
/** The community's comparison: every stored home's summed. GET /control/community. */
export interface ControlCommunity {
  homes: number;
  min_homes: number;
  suppressed: boolean;
  from_s: number | null;
  to_s: number | null;
  policies: Partial<Record<ControlPolicy, ControlPolicyResult & { homes: number }>>;
}
export interface ControlStep {
  start_s: number;
  indoor_c: number;
  band_low_c: number | null;
  band_high_c: number | null;
  setpoint_offset_k: number;
  net_import_w: number;
  target_w: number | null;
  reason: string;
}
export interface ControlFlexibility {
  start_s: number;
  step_s: number;
  up_wh: number[];
  down_wh: number[];
  rebound_wh: number[];
}
/** What the controller did in the home and why. GET /control/status, /control/{address}/status. */
export interface ControlStatus {
  account: string;
  policy: ControlPolicy;
  updated_s: number;
  comfort_violation_kh: number;
  steps: ControlStep[];
  flexibility: ControlFlexibility | null;
}

/** The caller's home's comparison (or, for its delegated aggregator, a member's). */
export function getControlComparison(api: Api, address?: string): Promise<ControlComparison> {
  return api.get<ControlComparison>(address ? `/control/${address}/compare` : "/control/compare");
}
/** The caller's home's control status (or, for its delegated aggregator, a member's). */
export function getControlStatus(api: Api, address?: string): Promise<ControlStatus> {
  return api.get<ControlStatus>(address ? `/control/${address}/status` : "/control/status");
}
export function getControlCommunity(api: Api): Promise<ControlCommunity> {
  return api.get<ControlCommunity>("/control/community");
}
