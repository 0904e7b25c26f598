// Time-series chart on uPlot (canvas; thousands of points), with a text summary for screen
// readers and an optional table of the values.
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { timeZone } from "../lib/format";

export interface Series {
  label: string;
  values: (number | null)[];
  color: string;
  dash?: number[];
  /** Drawn as bars (e.g. volumes) instead of a line. */
  bars?: boolean;
  /** "right": on a second axis, in `unitRight`. */
  axis?: "right";
  /** What the text summary says of its values: their total (default; energies, money) or
   *  their mean (temperatures). */
  summary?: "total" | "mean";
}

export function TimeChart({
  title,
  times,
  series,
  unit,
  unitRight,
  height = 260,
}: {
  title: string;
  times: number[];
  series: Series[];
  unit: string;
  unitRight?: string;
  height?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el || times.length === 0) return;
    const width = Math.max(320, el.clientWidth || 800);
    const plot = new uPlot(
      {
        width,
        height,
        series: [
          {},
          ...series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: s.bars ? 1 : 1.5,
            dash: s.dash,
            scale: s.axis === "right" ? "right" : "y",
            fill: s.bars ? `${s.color}55` : undefined,
            paths: s.bars ? uPlot.paths.bars!({ size: [0.6, 40] }) : undefined,
            points: { show: !s.bars && times.length < 60 },
          })),
        ],
        axes: [
          {},
          { label: unit, size: 70, scale: "y" },
          ...(series.some((s) => s.axis === "right") ? [{ label: unitRight ?? "", size: 70, scale: "right", side: 1, grid: { show: false } }] : []),
        ],
        // Bars (volumes, money) stand on zero, and a negative bar (a penalty) below it.
        scales: series.some((s) => s.bars) ? { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), Math.max(0, max)] } } : { x: { time: true } },
        tzDate: (ts: number) => uPlot.tzDate(new Date(ts * 1e3), timeZone()),
        legend: { live: true },
      },
      [times, ...series.map((s) => s.values)] as uPlot.AlignedData,
      el,
    );
    const onResize = () => plot.setSize({ width: Math.max(320, el.clientWidth), height });
    window.addEventListener("resize", onResize);
    return () => {
      window.removeEventListener("resize", onResize);
      plot.destroy();
    };
  }, [times, series, unit, unitRight, height]);
  const summary =
    times.length === 0
      ? "No data yet."
      : series
          .map((s) => {
            const v = s.values.filter((x): x is number => x !== null);
            const total = v.reduce((a, b) => a + b, 0);
            const u = s.axis === "right" ? (unitRight ?? "") : unit;
            if (s.summary === "mean") {
              const mean = v.length ? total / v.length : 0;
              return `${s.label}: ${v.length} values, mean ${mean.toLocaleString("en-US", { maximumFractionDigits: 1 })} ${u}`;
            }
            return `${s.label}: ${v.length} values, total ${Math.round(total).toLocaleString("en-US")} ${u}`;
          })
          .join("; ");
  return (
    <figure className="chart">
      <figcaption>
        {title} ({timeZone()})
      </figcaption>
      <div ref={box} role="img" aria-label={`${title}. ${summary}`} />
      <p className="muted small">{summary}</p>
    </figure>
  );
}
