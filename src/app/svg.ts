/** A few hand-written SVG chart primitives, enough for training curves and histograms rendered by sharp. */

export interface Box {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

const FONT = 'font-family="DejaVu Sans, Lato, sans-serif"';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * About five round tick values covering [lo, hi]. Counted rather than stepped, and never more than 4·count: at
 * 1e17 a step can be smaller than a double's spacing, and `v += step` would then never move.
 */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo) || !Number.isFinite(hi - lo)) return Number.isFinite(lo) ? [lo] : [];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const first = Math.ceil(lo / step);
  const ticks: number[] = [];
  for (let i = 0; i <= 4 * count; i++) {
    const v = (first + i) * step;
    if (v > hi + step * 1e-9) break;
    const t = Number(v.toPrecision(12));
    if (ticks.length === 0 || t > ticks[ticks.length - 1]) ticks.push(t);
  }
  return ticks;
}

/** Smallest and largest of many values (a spread into Math.min would overflow the stack past ~100,000). */
function extent(values: readonly number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

export function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

export interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: readonly (readonly [number, number])[];
}

export interface Panel {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** x positions marked with dashed vertical lines (λ updates, allowed levels). */
  readonly marks?: readonly number[];
  readonly markLabel?: string;
  /** Draw the first series as bars (a histogram) instead of a line. */
  readonly bars?: boolean;
  readonly xRange?: readonly [number, number];
  /** Only whole-number ticks on the x axis (epochs). */
  readonly integerX?: boolean;
}

/** One chart with axes, ticks, labels, title and legend inside `box`. */
function panel(p: Panel, box: Box): string {
  const m = {l: 70, r: 15, t: 34, b: 48};
  const pw = box.w - m.l - m.r;
  const ph = box.h - m.t - m.b;
  const xs = p.series.flatMap((s) => s.points.map((q) => q[0]));
  const ys = p.series.flatMap((s) => s.points.map((q) => q[1])).filter(Number.isFinite);
  let [x0, x1] = p.xRange ?? extent(xs);
  if (!(x1 > x0)) [x0, x1] = [x0 - 1, x1 + 1];
  let [y0, y1] = extent(ys);
  if (p.bars) y0 = 0;
  if (!Number.isFinite(y0) || !Number.isFinite(y1)) [y0, y1] = [0, 1];
  if (!(y1 > y0)) [y0, y1] = [y0 - Math.abs(y0 || 1) * 0.05, y1 + Math.abs(y1 || 1) * 0.05];
  const pad = (y1 - y0) * 0.05;
  if (!p.bars) y0 -= pad;
  y1 += pad;
  const X = (v: number): number => box.x + m.l + ((v - x0) / (x1 - x0)) * pw;
  const Y = (v: number): number => box.y + m.t + ph - ((v - y0) / (y1 - y0)) * ph;
  const out: string[] = [];
  out.push(`<rect x="${box.x + m.l}" y="${box.y + m.t}" width="${pw}" height="${ph}" fill="#fafafa" stroke="#333"/>`);
  for (const t of niceTicks(y0, y1)) {
    out.push(`<line x1="${box.x + m.l}" x2="${box.x + m.l + pw}" y1="${Y(t)}" y2="${Y(t)}" stroke="#ddd"/>`);
    out.push(`<text x="${box.x + m.l - 6}" y="${Y(t) + 4}" text-anchor="end" font-size="12" ${FONT}>${esc(fmt(t))}</text>`);
  }
  for (const t of niceTicks(x0, x1, 6).filter((v) => !p.integerX || Number.isInteger(v))) {
    out.push(`<line x1="${X(t)}" x2="${X(t)}" y1="${box.y + m.t + ph}" y2="${box.y + m.t + ph + 5}" stroke="#333"/>`);
    out.push(`<text x="${X(t)}" y="${box.y + m.t + ph + 18}" text-anchor="middle" font-size="12" ${FONT}>${esc(fmt(t))}</text>`);
  }
  for (const mk of p.marks ?? []) {
    if (mk < x0 || mk > x1) continue;
    out.push(`<line x1="${X(mk)}" x2="${X(mk)}" y1="${box.y + m.t}" y2="${box.y + m.t + ph}" stroke="#c0392b" stroke-dasharray="5,4" stroke-width="1.5"/>`);
  }
  for (const s of p.series) {
    if (p.bars) {
      const w = s.points.length > 1 ? Math.abs(X(s.points[1][0]) - X(s.points[0][0])) : 4;
      for (const [x, y] of s.points) out.push(`<rect x="${X(x) - w / 2}" y="${Y(y)}" width="${Math.max(w - 0.5, 0.5)}" height="${Y(0) - Y(y)}" fill="${s.color}"/>`);
    } else {
      const d = s.points.filter((q) => Number.isFinite(q[1])).map((q, i) => `${i === 0 ? 'M' : 'L'}${X(q[0]).toFixed(1)},${Y(q[1]).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2.5"/>`);
      for (const q of s.points) if (Number.isFinite(q[1])) out.push(`<circle cx="${X(q[0])}" cy="${Y(q[1])}" r="3.5" fill="${s.color}"/>`);
    }
  }
  out.push(`<text x="${box.x + m.l + pw / 2}" y="${box.y + 22}" text-anchor="middle" font-size="15" font-weight="bold" ${FONT}>${esc(p.title)}</text>`);
  out.push(`<text x="${box.x + m.l + pw / 2}" y="${box.y + box.h - 8}" text-anchor="middle" font-size="13" ${FONT}>${esc(p.xLabel)}</text>`);
  out.push(`<text transform="translate(${box.x + 16},${box.y + m.t + ph / 2}) rotate(-90)" text-anchor="middle" font-size="13" ${FONT}>${esc(p.yLabel)}</text>`);
  if (p.marks && p.marks.length > 0 && p.markLabel) {
    out.push(`<text x="${box.x + m.l + pw - 4}" y="${box.y + m.t + 14}" text-anchor="end" font-size="11" fill="#c0392b" ${FONT}>${esc(p.markLabel)}</text>`);
  }
  return out.join('\n');
}

/** Panels in a grid on a white page. */
export function page(panels: readonly Panel[], columns: number, cell: {w: number; h: number}, heading: string): {svg: string; width: number; height: number} {
  const rows = Math.ceil(panels.length / columns);
  const width = columns * cell.w;
  const height = rows * cell.h + 40;
  const body = panels.map((p, i) => panel(p, {x: (i % columns) * cell.w, y: 40 + Math.floor(i / columns) * cell.h, w: cell.w, h: cell.h}));
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<rect width="${width}" height="${height}" fill="white"/>` +
    `<text x="${width / 2}" y="26" text-anchor="middle" font-size="18" font-weight="bold" ${FONT}>${esc(heading)}</text>` +
    body.join('\n') +
    '</svg>';
  return {svg, width, height};
}
