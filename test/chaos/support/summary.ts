import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/** Where every chaos scenario appends its row (gitignored). */
export const SUMMARY_FILE = join(__dirname, '..', 'results', 'summary.jsonl');

export const SummaryRow = z.object({
  scenario: z.string(),
  runs: z.number().int(),
  faults: z.number().int(),
  finalStates: z.record(z.string(), z.number()),
  duplicates: z.number().int(),
  lostEvents: z.number().int(),
});
export type SummaryRow = z.infer<typeof SummaryRow>;

/** `pid`/`ppid`: the process that recorded it and its parent (the jest runner, unless in band). */
const StoredRow = SummaryRow.extend({
  at: z.string(),
  mode: z.enum(['full', 'short']),
  pid: z.number().int(),
  ppid: z.number().int(),
});
type StoredRow = z.infer<typeof StoredRow>;

/** `KEEL_CHAOS=full` (npm run test:chaos) runs every scenario at full size; otherwise the short form. */
export function chaosScale(): { full: boolean; runs(full: number, short: number): number } {
  const full = process.env.KEEL_CHAOS === 'full';
  return { full, runs: (f, s) => (full ? f : s) };
}

/** Append one scenario's outcome to the summary file. */
export function recordScenario(row: SummaryRow): void {
  const stored: StoredRow = {
    ...SummaryRow.parse(row),
    at: new Date().toISOString(),
    mode: chaosScale().full ? 'full' : 'short',
    pid: process.pid,
    ppid: process.ppid,
  };
  mkdirSync(join(SUMMARY_FILE, '..'), { recursive: true });
  appendFileSync(SUMMARY_FILE, `${JSON.stringify(stored)}\n`);
}

/**
 * Rows recorded by the jest run in process `runner` (its workers or itself),
 * or every row when `runner` is undefined; unreadable lines are skipped.
 */
export function readSummary(runner?: number, file = SUMMARY_FILE): StoredRow[] {
  if (!existsSync(file)) return [];
  const rows: StoredRow[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const row = StoredRow.parse(JSON.parse(line));
      if (runner === undefined || row.pid === runner || row.ppid === runner) rows.push(row);
    } catch {
      // a torn or foreign line: not ours to report
    }
  }
  return rows.sort((a, b) => a.scenario.localeCompare(b.scenario) || a.at.localeCompare(b.at));
}

const states = (s: Record<string, number>) =>
  Object.entries(s)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || '-';

/** The summary as a Markdown table (also what docs/reliability.md shows). */
export function formatSummary(rows: readonly StoredRow[]): string {
  const head = [
    '| scenario | mode | runs | faults | final states | duplicates | lost events |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  const body = rows.map(
    (r) =>
      `| ${r.scenario} | ${r.mode} | ${r.runs} | ${r.faults} | ${states(r.finalStates)} | ${r.duplicates} | ${r.lostEvents} |`,
  );
  return [...head, ...body].join('\n');
}
