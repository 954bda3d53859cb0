import type { HopGap } from '../hop-timeline';
import type { BenchResults } from '../results';
import { COMPARISON_COLUMNS, comparisonRows, dbosPeer, floorRatios } from './compare';
import { fmtDateTime } from './format';
import { measureSections } from './measures';

/** Columns padded to their widest cell, separated by two spaces, a rule under the header. */
export function alignColumns(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    widths
      .map((w, i) => (i === widths.length - 1 ? (cells[i] ?? '') : (cells[i] ?? '').padEnd(w)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** The plain-text summary printed at the end of a run. */
export function renderTable(r: BenchResults): string {
  const title = `Keel bench ${r.workload}, mode ${r.mode}, started ${fmtDateTime(r.startedAt)}`;
  const measures = measureSections(r).flatMap((s) => s.rows);
  const blocks = [
    title,
    measures.length > 0 ? alignColumns(['measure', 'value'], measures) : '(no measures)',
  ];
  if (r.peers.length > 0) {
    const rows = comparisonRows(r);
    const withNotes = rows.some((row) => row.note !== '');
    const header = ['system', ...COMPARISON_COLUMNS.map((c) => c.header)];
    const body = rows.map((row) => [row.system, ...row.cells, ...(withNotes ? [row.note] : [])]);
    const ref = dbosPeer(r.peers);
    blocks.push(
      [
        `Compared with peers (measured elsewhere on the same machine kind)${
          ref ? `; ✓/✗ = Keel better/not better than ${ref.system}` : ''
        }:`,
        alignColumns(withNotes ? [...header, 'note'] : header, body),
        ...(floorRatios(r) ? [`${floorRatios(r)} (the floor measured right after this run)`] : []),
      ].join('\n'),
    );
  }
  return `${blocks.join('\n\n')}\n`;
}

/** Where a sequential run's time goes: the median gap per hop. */
export function renderHops(hops: readonly HopGap[]): string {
  return [
    'Sequential run, median gap per hop (event append times; "submit" and "end seen" are the load generator):',
    alignColumns(
      ['hop', 'runs', 'p50 (ms)'],
      hops.map((h) => [h.hop, String(h.count), h.p50Ms.toFixed(2)]),
    ),
  ].join('\n');
}
