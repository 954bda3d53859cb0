/** Small helpers for hand-written SVG charts. */

export const WIDTH = 720;
export const HEIGHT = 320;
export const PLOT = { left: 60, right: WIDTH - 20, top: 40, bottom: HEIGHT - 48 } as const;
const FAMILY = 'font-family="sans-serif"';
export const FONT = `${FAMILY} font-size="11"`;
export const COLORS = ['#2b6cb0', '#dd6b20'] as const;

export function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** One decimal is plenty for pixel coordinates. */
export function px(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

export function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${px(x)}" y="${px(y)}"${attrs ? ` ${attrs}` : ''}>${escapeXml(s)}</text>`;
}

export function line(x1: number, y1: number, x2: number, y2: number, attrs: string): string {
  return `<line x1="${px(x1)}" y1="${px(y1)}" x2="${px(x2)}" y2="${px(y2)}" ${attrs}/>`;
}

export function rect(x: number, y: number, w: number, h: number, attrs: string): string {
  return `<rect x="${px(x)}" y="${px(y)}" width="${px(w)}" height="${px(h)}" ${attrs}/>`;
}

/** Tick label: integers from 100 up, otherwise up to 3 significant digits. */
export function fmtTick(v: number): string {
  if (Math.abs(v) >= 100 || v === 0) return Math.round(v).toString();
  return Number(v.toPrecision(3)).toString();
}

/** About `count` round ticks (1, 2, 5 × 10^k steps) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

/** 1, 2, 5 × 10^k inside [lo, hi] (lo > 0); falls back to linear ticks when too few. */
export function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = Number((m * 10 ** e).toPrecision(12));
      if (v >= lo && v <= hi) ticks.push(v);
    }
  }
  return ticks.length >= 3 ? ticks : niceTicks(lo, hi);
}

export function svgDocument(title: string, body: readonly string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img">`,
    `<title>${escapeXml(title)}</title>`,
    rect(0, 0, WIDTH, HEIGHT, 'fill="#ffffff"'),
    text(WIDTH / 2, 20, title, `${FAMILY} font-size="13" font-weight="bold" text-anchor="middle"`),
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/** Axis lines, ticks with labels and axis titles around PLOT. */
export function axes(opts: {
  xTicks: readonly number[];
  xOf: (v: number) => number;
  xTitle: string;
  yTicks: readonly number[];
  yOf: (v: number) => number;
  yTitle: string;
}): string[] {
  const { left, right, top, bottom } = PLOT;
  // Grid first, so the axis lines stay on top of it.
  const out = opts.yTicks.map((t) =>
    line(left, opts.yOf(t), right, opts.yOf(t), 'stroke="#e2e2e2"'),
  );
  out.push(
    line(left, bottom, right, bottom, 'stroke="#333"'),
    line(left, top, left, bottom, 'stroke="#333"'),
  );
  for (const t of opts.xTicks) {
    const x = opts.xOf(t);
    out.push(line(x, bottom, x, bottom + 4, 'stroke="#333"'));
    out.push(text(x, bottom + 16, fmtTick(t), `${FONT} text-anchor="middle"`));
  }
  for (const t of opts.yTicks) {
    out.push(text(left - 6, opts.yOf(t) + 4, fmtTick(t), `${FONT} text-anchor="end"`));
  }
  out.push(text((left + right) / 2, HEIGHT - 10, opts.xTitle, `${FONT} text-anchor="middle"`));
  const yMid = (top + bottom) / 2;
  out.push(
    text(
      16,
      yMid,
      opts.yTitle,
      `${FONT} text-anchor="middle" transform="rotate(-90 16 ${px(yMid)})"`,
    ),
  );
  return out;
}
