// Small SVG charts for the stats page (no library): a line chart of series over time and
// horizontal bars.
"use strict";

const CHART_COLORS = ["#2458c6", "#e0433c", "#2fbf71", "#f0a202", "#8e44ad", "#16a085", "#d35400", "#7f8c8d"];

function svgEl(tag, attrs, text) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

// series: {name: [[x, y], ...]}; x in ms (UTC hours), y counts.
function lineChart(container, series, { width = 900, height = 260 } = {}) {
  const pad = { l: 40, r: 140, t: 10, b: 30 };
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, class: "svgchart", role: "img" });
  const pts = Object.values(series).flat();
  if (!pts.length) { container.replaceChildren(svgEl("svg", { viewBox: "0 0 300 30" })); container.firstChild.appendChild(svgEl("text", { x: 5, y: 20 }, "no data")); return; }
  const xs = pts.map((p) => p[0]), ymax = Math.max(1, ...pts.map((p) => p[1]));
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || x0 + 1;
  const X = (x) => pad.l + ((x - x0) / Math.max(1, x1 - x0)) * (width - pad.l - pad.r);
  const Y = (y) => height - pad.b - (y / ymax) * (height - pad.t - pad.b);
  svg.appendChild(svgEl("line", { x1: pad.l, y1: Y(0), x2: width - pad.r, y2: Y(0), stroke: "#999" }));
  svg.appendChild(svgEl("text", { x: 4, y: Y(ymax) + 10, class: "axis" }, String(ymax)));
  svg.appendChild(svgEl("text", { x: pad.l, y: height - 8, class: "axis" }, new Date(x0).toISOString().slice(5, 13).replace("T", " ") + "h"));
  svg.appendChild(svgEl("text", { x: width - pad.r, y: height - 8, class: "axis", "text-anchor": "end" }, new Date(x1).toISOString().slice(5, 13).replace("T", " ") + "h"));
  Object.entries(series).forEach(([name, data], i) => {
    const color = CHART_COLORS[i % CHART_COLORS.length];
    data.sort((a, b) => a[0] - b[0]);
    svg.appendChild(svgEl("polyline", { points: data.map(([x, y]) => `${X(x)},${Y(y)}`).join(" "), fill: "none", stroke: color, "stroke-width": 2, "data-series": name }));
    data.forEach(([x, y]) => svg.appendChild(svgEl("circle", { cx: X(x), cy: Y(y), r: 3, fill: color })));
    svg.appendChild(svgEl("rect", { x: width - pad.r + 10, y: pad.t + i * 18, width: 10, height: 10, fill: color }));
    svg.appendChild(svgEl("text", { x: width - pad.r + 25, y: pad.t + i * 18 + 9, class: "legend" }, name));
  });
  container.replaceChildren(svg);
}

// rows: [[label, value], ...]
function barChart(container, rows, { width = 440, bar = 20, labelClass = "" } = {}) {
  const height = Math.max(30, rows.length * (bar + 6) + 6);
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, class: "svgchart", role: "img" });
  const vmax = Math.max(1, ...rows.map((r) => r[1]));
  rows.forEach(([label, value], i) => {
    const y = 4 + i * (bar + 6);
    svg.appendChild(svgEl("text", { x: 0, y: y + bar * 0.7, class: "barlabel " + labelClass }, label));
    svg.appendChild(svgEl("rect", { x: 130, y, width: Math.max(2, (value / vmax) * (width - 180)), height: bar, fill: CHART_COLORS[0], "data-label": label }));
    svg.appendChild(svgEl("text", { x: 136 + (value / vmax) * (width - 180), y: y + bar * 0.7, class: "legend" }, String(value)));
  });
  if (!rows.length) svg.appendChild(svgEl("text", { x: 5, y: 20 }, "no data"));
  container.replaceChildren(svg);
}
