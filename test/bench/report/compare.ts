import type { BenchResults, PeerRow } from '../results';
import { fmt2, fmtInt, fmtMs } from './format';

type Measure = 'stepP50Ms' | 'stepP99Ms' | 'stepsPerS' | 'cpuSPer1kSteps';

interface Column {
  readonly key: Measure;
  readonly header: string;
  readonly better: 'lower' | 'higher';
  readonly fmt: (v: number | undefined) => string;
}

export const COMPARISON_COLUMNS: readonly Column[] = [
  { key: 'stepP50Ms', header: 'step p50 (ms)', better: 'lower', fmt: fmtMs },
  { key: 'stepP99Ms', header: 'step p99 (ms)', better: 'lower', fmt: fmtMs },
  { key: 'stepsPerS', header: 'steps/s', better: 'higher', fmt: fmtInt },
  { key: 'cpuSPer1kSteps', header: 'CPU s/1k steps', better: 'lower', fmt: fmt2 },
];

export const KEEL_SYSTEM = 'Keel (this run)';
export const FLOOR_SYSTEM = 'floor: the same hops without Keel (this run)';

/** This run's numbers in the peers' shape; measures whose section is missing stay undefined. */
export function keelRow(r: BenchResults): PeerRow {
  return {
    system: KEEL_SYSTEM,
    stepP50Ms: r.sequential?.stepOverheadMs.p50,
    stepP99Ms: r.sequential?.stepOverheadMs.p99,
    stepsPerS: r.throughput?.stepsPerS,
    cpuSPer1kSteps: r.cost?.cpuSecondsPer1kSteps,
  };
}

/** The reference peer for the ✓/✗ marks. */
export function dbosPeer(peers: readonly PeerRow[]): PeerRow | undefined {
  return peers.find((p) => /^dbos\b/i.test(p.system));
}

/** ✓ when Keel is strictly better than the reference, ✗ otherwise, '' when either is missing. */
export function mark(col: Column, keel: PeerRow, ref: PeerRow | undefined): '✓' | '✗' | '' {
  const k = keel[col.key];
  const d = ref?.[col.key];
  if (k === undefined || d === undefined) return '';
  return (col.better === 'lower' ? k < d : k > d) ? '✓' : '✗';
}

export interface ComparisonRow {
  readonly system: string;
  readonly cells: readonly string[];
  readonly note: string;
}

/**
 * Keel's figures over the floor's measured in the same minutes (latency and CPU:
 * times the floor's; steps/s: its share of the floor's), or undefined without a floor.
 */
export function floorRatios(r: BenchResults): string | undefined {
  if (!r.floor) return undefined;
  const keel = keelRow(r);
  const ratio = (col: Column) => {
    const k = keel[col.key];
    const f = r.floor?.[col.key];
    return k === undefined || f === undefined || f === 0 ? undefined : k / f;
  };
  const label: Record<Measure, string> = {
    stepP50Ms: 'step p50',
    stepP99Ms: 'step p99',
    stepsPerS: 'steps/s',
    cpuSPer1kSteps: 'CPU per step',
  };
  const parts = COMPARISON_COLUMNS.flatMap((c) => {
    const x = ratio(c);
    if (x === undefined) return [];
    const value = c.better === 'higher' ? `${Math.round(x * 100)} %` : `${x.toFixed(2)}×`;
    return [`${label[c.key]} ${value}`];
  });
  return parts.length > 0 ? `Keel against the floor: ${parts.join(', ')}` : undefined;
}

/** Keel first (cells marked against DBOS), the floor of this run if measured, then every peer as given. */
export function comparisonRows(r: BenchResults): ComparisonRow[] {
  const keel = keelRow(r);
  const ref = dbosPeer(r.peers);
  const keelCells = COMPARISON_COLUMNS.map((c) => {
    const m = mark(c, keel, ref);
    return m ? `${c.fmt(keel[c.key])} ${m}` : c.fmt(keel[c.key]);
  });
  return [
    { system: KEEL_SYSTEM, cells: keelCells, note: '' },
    ...(r.floor
      ? [
          {
            system: FLOOR_SYSTEM,
            cells: COMPARISON_COLUMNS.map((c) => c.fmt(r.floor?.[c.key])),
            note: '',
          },
        ]
      : []),
    ...r.peers.map((p) => ({
      system: p.system,
      cells: COMPARISON_COLUMNS.map((c) => c.fmt(p[c.key])),
      note: p.note ?? '',
    })),
  ];
}
