// Small SVG charts for PRISM's dashboard: lines, grouped bars and stacked areas over a list of labels.
// Hand-drawn rather than vendored: three chart shapes need ~200 lines, and SVG elements carry their data as
// attributes (data-series, data-values) that people can inspect and the browser test reads. No inline styles: the
// colours are CSS classes in dashboard.css, so the page's Content-Security-Policy needs no style allowance.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 560;
const HEIGHT = 260;
const MARGIN = { top: 12, right: 12, bottom: 44, left: 44 };
const PLOT_WIDTH = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_HEIGHT = HEIGHT - MARGIN.top - MARGIN.bottom;

function element(name, attributes, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes || {})) {
    node.setAttribute(key, String(value));
  }
  if (parent) {
    parent.appendChild(node);
  }
  return node;
}

function text(content, attributes, parent) {
  const node = element("text", attributes, parent);
  node.textContent = content;
  return node;
}

// A round upper bound for the y axis (1, 2 or 5 times a power of ten, at least 1) and its tick step.
function scaleFor(maximum) {
  const top = Math.max(1, maximum);
  const magnitude = Math.pow(10, Math.floor(Math.log10(top)));
  for (const factor of [1, 2, 5, 10]) {
    if (top <= factor * magnitude) {
      const upper = factor * magnitude;
      return { upper: upper, step: upper / (factor === 2 ? 4 : 5) };
    }
  }
  return { upper: 10 * magnitude, step: 2 * magnitude };
}

function number(value) {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

// The empty chart: the svg, its y scale, horizontal grid lines, y ticks and every few x labels.
function frame(container, labels, maximum, title) {
  container.replaceChildren();
  const svg = element("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    "aria-label": title,
    class: "chart-svg",
  });
  text(title, {}, element("title", {}, svg));
  const scale = scaleFor(maximum);
  const y = (value) => MARGIN.top + PLOT_HEIGHT - (value / scale.upper) * PLOT_HEIGHT;
  const grid = element("g", { class: "grid" }, svg);
  for (let tick = 0; tick <= scale.upper + 1e-9; tick += scale.step) {
    element("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(tick), y2: y(tick) }, grid);
    text(number(tick), { x: MARGIN.left - 6, y: y(tick) + 4, class: "tick", "text-anchor": "end" }, grid);
  }
  svg.dataset.labels = labels.join(",");
  container.appendChild(svg);
  return { svg: svg, y: y };
}

function xLabels(svg, labels, x) {
  const every = Math.max(1, Math.ceil(labels.length / 8));
  const axis = element("g", { class: "axis" }, svg);
  // Counted back from the last label, so today's date is always shown and never overlaps another.
  labels.forEach((label, index) => {
    if ((labels.length - 1 - index) % every === 0) {
      const anchor = index === labels.length - 1 && labels.length > 1 ? "end" : "middle";
      text(label, { x: x(index), y: HEIGHT - MARGIN.bottom + 16, class: "tick", "text-anchor": anchor }, axis);
    }
  });
}

function legend(container, series) {
  const list = document.createElement("ul");
  list.className = "legend";
  for (const item of series) {
    const entry = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = `swatch ${item.className}`;
    entry.append(swatch, item.name);
    list.appendChild(entry);
  }
  container.appendChild(list);
}

// Lines over the labels; each series is {name, className, values} with one number (or null) per label.
export function lineChart(container, labels, series, title) {
  const maximum = Math.max(0, ...series.flatMap((s) => s.values.filter((v) => v !== null)));
  const { svg, y } = frame(container, labels, maximum, title);
  const x = (index) => MARGIN.left + (labels.length < 2 ? PLOT_WIDTH / 2 : (index / (labels.length - 1)) * PLOT_WIDTH);
  for (const item of series) {
    const points = item.values
      .map((value, index) => (value === null ? null : `${x(index).toFixed(1)},${y(value).toFixed(1)}`))
      .filter((point) => point !== null);
    const line = element("polyline", { points: points.join(" "), class: `line ${item.className}` }, svg);
    line.dataset.series = item.key;
    line.dataset.values = item.values.map((v) => (v === null ? "" : number(v))).join(",");
    item.values.forEach((value, index) => {
      if (value !== null) {
        const dot = element("circle", { cx: x(index), cy: y(value), r: 3, class: `dot ${item.className}` }, svg);
        text(`${item.name}, ${labels[index]}: ${number(value)}`, {}, element("title", {}, dot));
      }
    });
  }
  xLabels(svg, labels, x);
  legend(container, series);
  return svg;
}

// Bars side by side for each label; each series is {key, name, className, values}.
export function barChart(container, labels, series, title) {
  const maximum = Math.max(0, ...series.flatMap((s) => s.values));
  const { svg, y } = frame(container, labels, maximum, title);
  const slot = PLOT_WIDTH / Math.max(1, labels.length);
  const barWidth = Math.min(36, (slot * 0.8) / series.length);
  const x = (index) => MARGIN.left + slot * index + slot / 2;
  series.forEach((item, position) => {
    const group = element("g", { class: `bars ${item.className}` }, svg);
    group.dataset.series = item.key;
    group.dataset.values = item.values.map(number).join(",");
    item.values.forEach((value, index) => {
      const left = x(index) - (barWidth * series.length) / 2 + barWidth * position;
      const bar = element(
        "rect",
        { x: left, y: y(value), width: Math.max(1, barWidth - 2), height: Math.max(0, y(0) - y(value)) },
        group
      );
      text(`${item.name}, ${labels[index]}: ${number(value)}`, {}, element("title", {}, bar));
    });
  });
  xLabels(svg, labels, x);
  legend(container, series);
  return svg;
}

// Areas stacked bottom to top in the order given; each series is {key, name, className, values}.
export function stackedAreaChart(container, labels, series, title) {
  const totals = labels.map((_, index) => series.reduce((sum, s) => sum + s.values[index], 0));
  const { svg, y } = frame(container, labels, Math.max(0, ...totals), title);
  const x = (index) => MARGIN.left + (labels.length < 2 ? PLOT_WIDTH / 2 : (index / (labels.length - 1)) * PLOT_WIDTH);
  let below = labels.map(() => 0);
  for (const item of series) {
    const above = below.map((base, index) => base + item.values[index]);
    const upper = above.map((value, index) => `${x(index).toFixed(1)},${y(value).toFixed(1)}`);
    const lower = below.map((value, index) => `${x(index).toFixed(1)},${y(value).toFixed(1)}`).reverse();
    const area = element("polygon", { points: upper.concat(lower).join(" "), class: `area ${item.className}` }, svg);
    area.dataset.series = item.key;
    area.dataset.values = item.values.join(",");
    text(`${item.name}: ${item.values[item.values.length - 1] ?? 0} on ${labels[labels.length - 1] ?? ""}`, {},
      element("title", {}, area));
    below = above;
  }
  xLabels(svg, labels, x);
  legend(container, series.slice().reverse());
  return svg;
}
