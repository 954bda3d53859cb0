import type { BenchResults, Distribution } from '../results';
import { COMPARISON_COLUMNS, comparisonRows, dbosPeer, floorRatios } from './compare';
import { fmt2, fmtDateTime, fmtInt, fmtMiB, fmtMs } from './format';
import { measureSections, type Section } from './measures';

export interface MarkdownOptions {
  /** Paths of the SVGs as the Markdown should link them (relative to the .md file). */
  readonly latencySvgFile?: string;
  readonly throughputSvgFile?: string;
}

function cell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

export function mdTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.map(cell).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function distributionTable(label: string, d: Distribution): string {
  return mdTable(
    ['', 'count', 'min', 'mean', 'p50', 'p90', 'p99', 'max'],
    [[label, fmtInt(d.count), ...[d.min, d.mean, d.p50, d.p90, d.p99, d.max].map(fmtMs)]],
  );
}

function image(alt: string, file: string): string {
  const href = encodeURI(file).replace(/\(/g, '%28').replace(/\)/g, '%29');
  return `![${alt.replace(/[[\]]/g, '')}](${href})`;
}

/** The extra detail of a section beyond its headline measures. */
function sectionDetail(r: BenchResults, s: Section): string[] {
  const { sequential: seq, throughput: tp, cost, scaling, soak } = r;
  switch (s.title) {
    case 'Sequential':
      return seq
        ? [
            `${fmtInt(seq.runs)} runs one at a time after ${fmtInt(seq.warmupRuns)} warm-up runs, 10 steps each.`,
            distributionTable('run latency (ms)', seq.runLatencyMs),
          ]
        : [];
    case 'Throughput':
      return tp
        ? [
            `${fmtInt(tp.runs)} runs, ${fmtInt(tp.inFlight)} in flight, over ${fmt2(tp.durationS)} s.`,
            distributionTable('run latency (ms)', tp.runLatencyMs),
          ]
        : [];
    case 'Cost':
      return cost
        ? [
            `CPU of every process during the throughput phase, ${fmtInt(cost.steps)} steps.`,
            mdTable(
              ['process', 'CPU s'],
              Object.entries(cost.cpuSecondsByProcess).map(([p, s]) => [p, fmt2(s)]),
            ),
          ]
        : [];
    case 'Scaling':
      return scaling
        ? [
            `I/O-bound tool sleeping ${fmtInt(scaling.toolSleepMs)} ms, pool concurrency ${fmtInt(scaling.poolConcurrencyPerReplica)} per replica.`,
            mdTable(
              ['replicas', 'runs', 'duration (s)', 'tool calls/s'],
              scaling.results.map((x) => [
                fmtInt(x.replicas),
                fmtInt(x.runs),
                fmt2(x.durationS),
                fmtInt(x.toolCallsPerS),
              ]),
            ),
          ]
        : [];
    case 'Soak':
      return soak
        ? [
            `${fmt2(soak.durationS)} s at a target of ${fmtInt(soak.targetRunsPerS)} runs/s.`,
            mdTable(
              [
                'service',
                'RSS start (MiB)',
                'RSS half-way (MiB)',
                'RSS end (MiB)',
                'ELD p99 start (ms)',
                'ELD p99 end (ms)',
              ],
              soak.services.map((x) => [
                x.service,
                fmtMiB(x.rssStartMiB),
                fmtMiB(x.rssMidMiB),
                fmtMiB(x.rssEndMiB),
                fmtMs(x.eventLoopDelayP99StartMs),
                fmtMs(x.eventLoopDelayP99EndMs),
              ]),
            ),
          ]
        : [];
    default:
      return [];
  }
}

function peersSection(r: BenchResults): string[] {
  if (r.peers.length === 0) return [];
  const rows = comparisonRows(r);
  const withNotes = rows.some((x) => x.note !== '');
  const header = [
    'system',
    ...COMPARISON_COLUMNS.map((c) => c.header),
    ...(withNotes ? ['note'] : []),
  ];
  const ref = dbosPeer(r.peers);
  return [
    '## Compared with peers',
    "> Peer numbers were measured elsewhere on the same machine kind, same workload; Keel's come from this run " +
      '(step latency = sequential run latency / 10, steps/s and CPU from the throughput phase).' +
      (ref ? ` ✓ marks a Keel figure better than ${ref.system}, ✗ one that is not.` : ''),
    mdTable(
      header,
      rows.map((x) => [x.system, ...x.cells, ...(withNotes ? [x.note] : [])]),
    ),
    ...(r.floor
      ? [
          `${floorRatios(r) ?? ''}. The floor (\`npm run bench:floor\`) makes the same hops per step ` +
            'with bare Node processes, measured right after this run over as many steps (step ' +
            "latency at 1 in flight, steps/s and CPU at the throughput phase's in-flight count, its " +
            "model server left out of CPU as Keel's is): " +
            "these ratios hold steadier across the machine's speed than the figures themselves.",
        ]
      : []),
  ];
}

/** A Markdown report of one run, linking the SVG charts when given. */
export function renderMarkdown(r: BenchResults, opts: MarkdownOptions = {}): string {
  const m = r.machine;
  const parts: string[] = [
    `# Keel benchmark: ${r.workload}, ${fmtDateTime(r.startedAt)} (mode: ${r.mode})`,
    '## Machine',
    [
      `- CPU: ${m.cpus} × ${m.cpuModel}`,
      `- Memory: ${fmt2(m.memoryGiB)} GiB`,
      `- Node.js: ${m.node}`,
      `- PostgreSQL: ${m.postgres}`,
      `- NATS server: ${m.natsServer}`,
    ].join('\n'),
  ];
  const config = Object.entries(r.config);
  if (config.length > 0) {
    parts.push(
      '## Config',
      mdTable(
        ['setting', 'value'],
        config.map(([k, v]) => [k, String(v)]),
      ),
    );
  }
  for (const s of measureSections(r)) {
    parts.push(`## ${s.title}`, mdTable(['measure', 'value'], s.rows), ...sectionDetail(r, s));
    if (s.title === 'Sequential' && opts.latencySvgFile) {
      parts.push(image('Run latency histogram', opts.latencySvgFile));
    }
    if (s.title === 'Throughput' && opts.throughputSvgFile) {
      parts.push(image('Completed runs over time', opts.throughputSvgFile));
    }
  }
  // The latency chart also covers the throughput phase; link it there when there was no sequential phase.
  if (!r.sequential && opts.latencySvgFile)
    parts.push(image('Run latency histogram', opts.latencySvgFile));
  parts.push(...peersSection(r));
  return `${parts.join('\n\n')}\n`;
}
