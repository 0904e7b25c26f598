// Member: own consumption and production (committed meter data) and forecasts, as charts.
import { useMemo } from "react";
import { TimeChart, type Series } from "../components/Chart";
import { Loading, NeedsLogin, Panel, ProblemBox } from "../components/ui";
import type { Forecast, MeterInterval, Page } from "../lib/api";
import { useLoad } from "../lib/hooks";
import { useApp } from "../state";

export default function EnergyPage() {
  const { me } = useApp();
  return (
    <>
      <h1>My energy</h1>
      {me ? <EnergyBody /> : <NeedsLogin role="a member" />}
    </>
  );
}

function EnergyBody() {
  const { api, tick } = useApp();
  const meter = useLoad(() => api.get<Page<MeterInterval>>("/meter-intervals", { limit: 500 }), [api, tick]);
  const forecasts = useLoad(() => api.get<Page<Forecast>>("/forecasts", { limit: 500 }), [api, tick]);
  const m = useMemo(() => {
    const rows = [...(meter.data?.data ?? [])].sort((a, b) => a.interval_start_s - b.interval_start_s);
    const series: Series[] = [
      { label: "Consumption (import)", values: rows.map((r) => r.import_wh), color: "#b03a2e" },
      { label: "Production (export)", values: rows.map((r) => r.export_wh), color: "#1e8449" },
    ];
    return { times: rows.map((r) => r.interval_start_s), series };
  }, [meter.data]);
  const f = useMemo(() => {
    const rows = [...(forecasts.data?.data ?? [])].sort((a, b) => a.interval_start_s - b.interval_start_s);
    const series: Series[] = [
      { label: "10 % quantile", values: rows.map((r) => r.q10_wh), color: "#7f8c8d", dash: [4, 4] },
      { label: "Median", values: rows.map((r) => r.q50_wh), color: "#1f4e79" },
      { label: "90 % quantile", values: rows.map((r) => r.q90_wh), color: "#7f8c8d", dash: [4, 4] },
    ];
    return { times: rows.map((r) => r.interval_start_s), series };
  }, [forecasts.data]);
  return (
    <div className="grid">
      <Panel title="Consumption and production (15-minute meter data)">
        <ProblemBox error={meter.error} />
        {!meter.data ? <Loading what="meter data" /> : <TimeChart title="Energy per 15 minutes" times={m.times} series={m.series} unit="Wh" />}
        {meter.data && <p className="muted small">{meter.data.count} intervals committed on-chain; the latest {meter.data.data.length} are shown.</p>}
      </Panel>
      <Panel title="Forecast of net energy (import positive)">
        <ProblemBox error={forecasts.error} />
        {!forecasts.data ? <Loading what="forecasts" /> : <TimeChart title="Forecast per 15 minutes" times={f.times} series={f.series} unit="Wh" />}
      </Panel>
    </div>
  );
}
