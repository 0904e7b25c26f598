// Shapes of the coordination routes (api/schemas.py) and small shared views.
export type RequestStatus = "open" | "proposed" | "accepted" | "settled" | "reclaimed";

export interface FlexRequest {
  request_id: number;
  dso: string;
  grid_area: string;
  status: RequestStatus;
  direction: "up" | "down";
  window_start_s: number;
  window_end_s: number;
  intervals: number;
  opt_in_deadline_s: number;
  quantities_wh: number[];
  tolerance_bp: number;
  price_cap_per_kwh: number;
  penalty_per_kwh: number;
  escrow: string;
  round: number;
  opt_in_count: number;
  coordinator: string | null;
  price_per_kwh: number | null;
  member_count: number;
  /** Why the request got no coalition (when the API says). */
  outcome_reason?: string | null;
  dso_name?: string | null;
  coordinator_name?: string | null;
  max_payout: string | null;
  payout_total: string | null;
  refund: string | null;
  settlement_state?: "proposed" | "finalized" | null;
  challenge_ends_s?: number | null;
  proposed_payout_total?: string | null;
  dispute_count?: number;
}

export interface RequestInterval {
  interval_index: number;
  interval_start_s: number;
  requested_wh: number;
  lower_wh: number;
  upper_wh: number;
  target_wh: number;
  targets_within_tolerance: boolean | null;
  delivered_wh: number | null;
  credited_wh: number | null;
  shortfall_wh: number | null;
  within_tolerance: boolean | null;
}

export interface CoalitionRow {
  member: string;
  meter_id: string;
  status: "member" | "replaced";
  targets_wh: number[];
  delivered_wh: number[] | null;
  target_total_wh: number;
  delivered_total_wh: number | null;
  payout: string | null;
  points: number | null;
  /** Why the member was penalised or delivered negative (when the API says). */
  explanation?: string | null;
  member_name?: string | null;
}

export interface Coalition {
  request_id: number;
  status: RequestStatus;
  round: number;
  price_per_kwh: number | null;
  member_count: number;
  visible: "all" | "own";
  rows: CoalitionRow[];
  count: number;
}

export interface AccountRequest {
  request_id: number;
  request_status: RequestStatus;
  grid_area: string;
  window_start_s: number;
  intervals: number;
  opt_in_status: "opted" | "member" | "reserve" | "replaced";
  max_wh: number;
  in_coalition: boolean;
  targets_wh: number[] | null;
  delivered_wh: number[] | null;
  credited_wh: number[] | null;
  target_total_wh: number | null;
  delivered_total_wh: number | null;
  payout: string | null;
  penalty_uncovered: string | null;
  points: number | null;
}

export interface AccountCoordination {
  account: string;
  claimable: string;
  earned_total: string;
  claimed_total: string;
  penalty_uncovered_total: string;
  reputation: number;
  settled_count: number;
  opt_in_count: number;
  requests: AccountRequest[];
  count: number;
}

export const STATUS_WORDS: Record<RequestStatus, string> = {
  open: "open for opt-ins",
  proposed: "coalition proposed",
  accepted: "coalition accepted",
  settled: "settled",
  reclaimed: "escrow reclaimed",
};
