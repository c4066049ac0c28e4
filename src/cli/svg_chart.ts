/**
 * A small SVG writer for grouped bar charts: one group of bars per category (a model), one
 * bar per series (a runtime), a scale with grid lines, and a legend. Several charts stack in
 * one document.
 *
 * @module
 */

/**
 * One series of bars: a name for the legend and one value per category.
 *
 * @example
 * ```ts
 * const deno: BarSeries = { name: "deno", values: [41000, 52000] };
 * ```
 */
export interface BarSeries {
  /** The legend's label. */
  name: string;
  /** One value per category; NaN or a negative value draws no bar. */
  values: number[];
}

/**
 * One chart.
 *
 * @example
 * ```ts
 * const chart: BarChart = {
 *   title: "Throughput, 100 connections",
 *   unit: "msgs/s",
 *   categories: ["select", "iocp"],
 *   series: [{ name: "deno", values: [41000, 52000] }],
 * };
 * ```
 */
export interface BarChart {
  /** Drawn above the chart. */
  title: string;
  /** The unit of the values, shown by the scale. */
  unit: string;
  /** The groups along the bottom. */
  categories: string[];
  /** The bars of each group. */
  series: BarSeries[];
}

const WIDTH = 960;
const CHART_HEIGHT = 320;
const MARGIN = { left: 80, right: 20, top: 48, bottom: 56 };
const COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"];

/**
 * Escapes text for SVG (XML) content and attribute values.
 *
 * @example
 * ```ts
 * console.log(escapeXml('a < b & "c"')); // "a &lt; b &amp; &quot;c&quot;"
 * ```
 */
export function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/**
 * One SVG element as text, with escaped attributes; children are already SVG text.
 *
 * @example
 * ```ts
 * console.log(svgElement("rect", { x: 0, y: 0, width: 10, height: 5 })); // <rect x="0" y="0" width="10" height="5"/>
 * ```
 */
export function svgElement(name: string, attributes: Record<string, string | number>, children: string[] = []): string {
  const attrs = Object.entries(attributes).map(([k, v]) => ` ${k}="${escapeXml(String(v))}"`).join("");
  return children.length === 0 ? `<${name}${attrs}/>` : `<${name}${attrs}>${children.join("")}</${name}>`;
}

function text(x: number, y: number, content: string, attributes: Record<string, string | number> = {}): string {
  return svgElement("text", { x: round(x), y: round(y), ...attributes }, [escapeXml(content)]);
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

/**
 * The top of a scale: the smallest 1, 2 or 5 times a power of ten at or above `max`.
 *
 * @example
 * ```ts
 * console.log(niceCeiling(73_000)); // 100000
 * console.log(niceCeiling(3.2)); // 5
 * ```
 */
export function niceCeiling(max: number): number {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

function formatTick(value: number): string {
  if (value >= 1e6) return `${value / 1e6}M`;
  if (value >= 1e3) return `${value / 1e3}k`;
  return String(round(value));
}

function chart(c: BarChart, top: number): string {
  const parts: string[] = [];
  const left = MARGIN.left;
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotTop = top + MARGIN.top;
  const plotHeight = CHART_HEIGHT - MARGIN.top - MARGIN.bottom;
  const values = c.series.flatMap((s) => s.values).filter((v) => Number.isFinite(v) && v >= 0);
  const ceiling = niceCeiling(Math.max(0, ...values));
  parts.push(text(left, top + 20, c.title, { "font-size": 15, "font-weight": "bold" }));
  parts.push(text(left - 8, plotTop - 10, c.unit, { "font-size": 11, "text-anchor": "end", fill: "#555" }));
  for (let i = 0; i <= 5; i++) {
    const value = (ceiling * i) / 5;
    const y = plotTop + plotHeight - (plotHeight * i) / 5;
    parts.push(
      svgElement("line", {
        x1: left,
        y1: round(y),
        x2: left + plotWidth,
        y2: round(y),
        stroke: i === 0 ? "#333" : "#ddd",
      }),
    );
    parts.push(text(left - 8, y + 4, formatTick(value), { "font-size": 11, "text-anchor": "end" }));
  }
  const groupWidth = plotWidth / Math.max(1, c.categories.length);
  const barWidth = (groupWidth * 0.8) / Math.max(1, c.series.length);
  c.categories.forEach((category, ci) => {
    const groupLeft = left + ci * groupWidth + groupWidth * 0.1;
    c.series.forEach((s, si) => {
      const v = s.values[ci];
      if (!Number.isFinite(v) || v < 0) return;
      const h = (plotHeight * v) / ceiling;
      parts.push(svgElement("rect", {
        x: round(groupLeft + si * barWidth),
        y: round(plotTop + plotHeight - h),
        width: round(Math.max(1, barWidth - 2)),
        height: round(h),
        fill: COLOURS[si % COLOURS.length],
      }, [svgElement("title", {}, [escapeXml(`${s.name}, ${category}: ${round(v)} ${c.unit}`)])]));
    });
    parts.push(text(left + ci * groupWidth + groupWidth / 2, plotTop + plotHeight + 18, category, {
      "font-size": 12,
      "text-anchor": "middle",
    }));
  });
  c.series.forEach((s, si) => {
    const x = WIDTH - MARGIN.right - (c.series.length - si) * 90;
    parts.push(svgElement("rect", { x, y: top + 10, width: 12, height: 12, fill: COLOURS[si % COLOURS.length] }));
    parts.push(text(x + 16, top + 20, s.name, { "font-size": 12 }));
  });
  return svgElement("g", { class: "chart" }, parts);
}

/**
 * An SVG document with the charts one above the other.
 *
 * @example
 * ```ts
 * const svg = barChartsSvg([{ title: "Throughput", unit: "msgs/s", categories: ["select"], series: [{ name: "node", values: [1000] }] }]);
 * ```
 */
export function barChartsSvg(charts: BarChart[]): string {
  const height = Math.max(1, charts.length) * CHART_HEIGHT;
  const body = charts.map((c, i) => chart(c, i * CHART_HEIGHT));
  return svgElement("svg", {
    xmlns: "http://www.w3.org/2000/svg",
    width: WIDTH,
    height,
    viewBox: `0 0 ${WIDTH} ${height}`,
    "font-family": "sans-serif",
  }, [svgElement("rect", { width: WIDTH, height, fill: "white" }), ...body]) + "\n";
}
