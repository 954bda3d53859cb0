/** Number formatting shared by the table, the Markdown and the SVGs. */

const DASH = '—';

/** Milliseconds: 2 decimals. */
export function fmtMs(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? DASH : v.toFixed(2);
}

/** Rates and counts: integers. */
export function fmtInt(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? DASH : Math.round(v).toString();
}

/** CPU seconds, speedups: 2 decimals. */
export function fmt2(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? DASH : v.toFixed(2);
}

/** MiB: 1 decimal below 100, integers above. */
export function fmtMiB(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return DASH;
  return Math.abs(v) < 100 ? v.toFixed(1) : Math.round(v).toString();
}

export function pair(a: string, b: string): string {
  return `${a} / ${b}`;
}

export function arrow(...values: string[]): string {
  return values.join(' → ');
}

/** `2026-11-21T06:30:00.000Z` → `2026-11-21 06:30:00 UTC`; anything unparseable as given. */
export function fmtDateTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
