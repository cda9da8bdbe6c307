import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { UsageSeries } from "../usage-series.js";

/** The lines, by status class; 429 has a line of its own when the API reports it apart. */
function linesOf(series: UsageSeries) {
  const apart = series.limited !== undefined;
  return [
    { label: "2xx", stroke: "#15803d", values: series.ok },
    { label: "3xx", stroke: "#0369a1", values: series.redirects },
    {
      label: apart ? "4xx (not 429)" : "4xx (incl. 429)",
      stroke: "#b45309",
      values: series.clientErrors,
    },
    ...(apart ? [{ label: "429", stroke: "#7c3aed", values: series.limited ?? [] }] : []),
    { label: "5xx", stroke: "#b91c1c", values: series.serverErrors },
  ];
}

/** Requests per hour by status class (uPlot), as wide as its container. */
export function UsageChart(props: { readonly series: UsageSeries; readonly title: string }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (element === null) return;
    const { series } = props;
    const lines = linesOf(series);
    const width = () => Math.max(260, element.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 220,
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        axes: [{}, { label: "requests / hour", size: 60 }],
        series: [
          { label: "hour" },
          ...lines.map((line) => ({
            label: line.label,
            stroke: line.stroke,
            width: 2,
            points: { show: false },
          })),
        ],
      },
      [series.hours, ...lines.map((line) => line.values)],
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
