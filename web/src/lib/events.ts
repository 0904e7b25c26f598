// The API's live feed (server-sent events, /events/stream): each chain event bumps a refresh.
export const FEED_EVENTS = [
  "FlexMarket.SessionOpened",
  "FlexMarket.OrderPlaced",
  "FlexMarket.OrderCancelled",
  "FlexMarket.OrderMatched",
  "FlexMarket.SessionCleared",
  "FlexMarket.Deposited",
  "FlexMarket.Withdrawn",
  "FlexToken.Transfer",
  "FlexCoordination.RequestPublished",
  "FlexCoordination.OptedIn",
  "FlexCoordination.CoalitionProposed",
  "FlexCoordination.CoalitionAccepted",
  "FlexCoordination.CoalitionRejected",
  "FlexCoordination.MemberReplaced",
  "FlexCoordination.SettlementProposed",
  "FlexCoordination.SettlementDisputed",
  "FlexCoordination.SettlementFinalized",
  "FlexCoordination.ReputationAwarded",
  "FlexCoordination.PayoutClaimed",
  "FlexCoordination.EscrowReclaimed",
  "MeterOracle.MeterReadingsCommitted",
  "ForecastOracle.ForecastsCommitted",
];

export interface FeedHandle {
  close(): void;
}

/** Follow the feed; `onEvents` is called at most every `throttleMs` while events arrive. */
export function followFeed(
  token: string,
  onEvents: (names: string[]) => void,
  onState: (s: "connecting" | "live" | "error") => void,
  onExpired: () => void,
  throttleMs = 400,
): FeedHandle {
  const es = new EventSource(`/events/stream?access_token=${encodeURIComponent(token)}`);
  let pending: string[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  const flush = () => {
    timer = null;
    const names = pending;
    pending = [];
    if (names.length) onEvents(names);
  };
  const on = (name: string) => () => {
    pending.push(name);
    if (!timer) timer = setTimeout(flush, throttleMs);
  };
  onState("connecting");
  es.onopen = () => onState("live");
  es.onerror = () => onState(es.readyState === EventSource.CLOSED ? "error" : "connecting");
  for (const name of FEED_EVENTS) es.addEventListener(name, on(name));
  es.addEventListener("rollback", on("rollback"));
  es.addEventListener("token-expired", () => {
    es.close();
    onExpired();
  });
  return {
    close() {
      if (timer) clearTimeout(timer);
      es.close();
    },
  };
}
