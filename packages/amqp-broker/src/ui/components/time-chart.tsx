import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** Shortest time span shown, in seconds. */
const WINDOW_S = 300;
const COMPACT = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 });

/** Shows at least the last {@link WINDOW_S} seconds, so that a few samples do not stretch over years. */
function showWindow(u: uPlot, times: readonly number[]): void {
  const last = times.at(-1);
  if (last === undefined) return;
  u.setScale('x', { min: Math.min(times[0] ?? last, last - WINDOW_S), max: last });
}

export interface ChartSeries {
  label: string;
  /** A CSS colour. */
  stroke: string;
}

/** Samples of a time chart: `times` in seconds since the epoch, one array per series, all the same length. */
export interface ChartData {
  times: number[];
  values: number[][];
}

/**
 * A live line chart (uPlot, canvas). It follows its box's width, and the figure carries a text caption with
 * the latest values because a canvas says nothing to a screen reader.
 */
export function TimeChart({
  title,
  series,
  data,
  format,
}: {
  title: string;
  series: readonly ChartSeries[];
  data: ChartData;
  format: (v: number) => string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const u = new uPlot(
      {
        width: Math.max(200, el.clientWidth),
        height: 180,
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2 }))],
        axes: [{}, { values: (_u, ticks) => ticks.map((t) => COMPACT.format(t)), size: 56 }],
        scales: {
          y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
        },
        legend: { show: true },
      },
      [data.times, ...data.values],
      el,
    );
    plot.current = u;
    showWindow(u, data.times);
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: 180 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [series.map((s) => s.label).join()]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    u.setData([data.times, ...data.values]);
    showWindow(u, data.times);
  }, [data]);

  const latest = series.map((s, i) => `${s.label} ${format(data.values[i]?.at(-1) ?? 0)}`).join(', ');
  return (
    <figure class="chart" data-samples={data.times.length}>
      <figcaption>
        <strong>{title}</strong> <span class="muted">now: {latest}</span>
      </figcaption>
      <div ref={box} class="chart-canvas" role="img" aria-label={`${title} chart; now ${latest}`} />
    </figure>
  );
}
