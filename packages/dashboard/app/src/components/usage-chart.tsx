import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { UsageSeries } from "../usage-series.js";

const CLASSES = [
  { label: "2xx", stroke: "#15803d", key: "ok" },
  { label: "3xx", stroke: "#0369a1", key: "redirects" },
  { label: "4xx (incl. 429)", stroke: "#b45309", key: "clientErrors" },
  { label: "5xx", stroke: "#b91c1c", key: "serverErrors" },
] as const;

/** Requests per hour by status class (uPlot), as wide as its container. */
export function UsageChart(props: { readonly series: UsageSeries; readonly title: string }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (element === null) return;
    const { series } = props;
    const width = () => Math.max(260, element.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 220,
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        axes: [{}, { label: "requests / hour", size: 60 }],
        series: [
          { label: "hour" },
          ...CLASSES.map((c) => ({
            label: c.label,
            stroke: c.stroke,
            width: 2,
            points: { show: false },
          })),
        ],
      },
      [series.hours, ...CLASSES.map((c) => series[c.key])],
      element,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: width(), height: 220 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [props.series]);
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div ref={box} role="img" aria-label={props.title} data-testid="usage-chart" />
    </figure>
  );
}
