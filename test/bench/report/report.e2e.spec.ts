import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PEERS, type BenchResults, type Distribution } from '../results';
import { latencySvg, renderMarkdown, renderTable, throughputSvg, writeReport } from './index';
import { escapeXml } from './svg-kit';

// Pure rendering: no server needed, it only lives under test/ to run in the e2e project.

/** Deterministic log-normal-ish samples around `median` (mulberry32 + Box-Muller). */
function samples(n: number, median: number, spread: number, seed: number): number[] {
  let s = seed >>> 0;
  const rand = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: n }, () => {
    const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    return Math.round(median * Math.exp(spread * z) * 100) / 100;
  });
}

function dist(count: number, p50: number, p99: number): Distribution {
  return {
    count,
    min: p50 * 0.7,
    mean: p50 * 1.08,
    p50,
    p90: (p50 + p99) / 2,
    p99,
    max: p99 * 1.3,
  };
}

const full: BenchResults = {
  workload: 'agent-run-10',
  startedAt: '2026-11-21T06:30:00.000Z',
  mode: 'default',
  machine: {
    cpus: 8,
    cpuModel: 'AMD EPYC 7B13',
    memoryGiB: 31.3,
    node: 'v22.11.0',
    postgres: '17.2',
    natsServer: '2.10.22',
  },
  config: { runs: 500, inFlight: 64, plannerReplicas: 1, outboxBatch: 100, fsync: true },
  calibration: {
    before: { pgCommitsPerS: 1306, jetStreamPublishAcksPerS: 2292 },
    after: { pgCommitsPerS: 2611, jetStreamPublishAcksPerS: 4583 },
  },
  sequential: {
    warmupRuns: 50,
    runs: 500,
    runLatencyMs: dist(500, 12, 29),
    stepOverheadMs: { p50: 1.2, p99: 2.9 },
    cpuMsPerStep: 3.5,
    samplesMs: samples(500, 12, 0.3, 1),
  },
  throughput: {
    runs: 2400,
    inFlight: 64,
    durationS: 10,
    runsPerS: 240,
    stepsPerS: 2400,
    failedRuns: 0,
    runLatencyMs: dist(2400, 262.5, 410.25),
    samplesMs: samples(2400, 262.5, 0.2, 2),
    completionsPerBucket: Array.from({ length: 40 }, (_, i) => (i < 2 ? 20 * i : 60 + (i % 3))),
    bucketMs: 250,
  },
  cost: {
    steps: 24000,
    cpuSecondsPer1kSteps: 0.75,
    cpuSecondsByProcess: { planner: 7.1, 'tool-executor': 4.2, postgres: 5.3, 'nats-server': 1.4 },
    coresBusyByProcess: {
      planner: 0.71,
      'tool-executor': 0.42,
      postgres: 0.53,
      'nats-server': 0.14,
    },
    peakRssMiBByService: { planner: 142.4, 'tool-executor': 98.65, outbox: 87 },
  },
  scaling: {
    toolSleepMs: 50,
    poolConcurrencyPerReplica: 32,
    results: [
      { replicas: 1, toolCallsPerS: 612.4, runs: 600, durationS: 9.8 },
      { replicas: 2, toolCallsPerS: 1187.6, runs: 1200, durationS: 10.1 },
    ],
    speedup: 1.939,
  },
  soak: {
    durationS: 1800,
    targetRunsPerS: 50,
    completedRuns: 90000,
    failedRuns: 0,
    services: [
      {
        service: 'planner',
        rssStartMiB: 130.2,
        rssMidMiB: 133.9,
        rssEndMiB: 134.8,
        eventLoopDelayP99StartMs: 3.1,
        eventLoopDelayP99EndMs: 3.25,
      },
    ],
  },
  peers: PEERS,
};

const sequentialOnly: BenchResults = {
  workload: full.workload,
  startedAt: full.startedAt,
  mode: 'smoke',
  machine: full.machine,
  config: {},
  sequential: full.sequential,
  peers: PEERS,
};

function lineWith(out: string, start: string): string {
  const found = out.split('\n').find((l) => l.startsWith(start));
  if (found === undefined) throw new Error(`no line starting with ${start}:\n${out}`);
  return found;
}

/** Every open tag closed in order, self-closing tags allowed. */
function expectBalancedXml(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    const [, close, name, self] = m;
    const attrs = [...m[0].matchAll(/\s([\w:-]+)=/g)].map((a) => a[1]);
    expect(new Set(attrs).size).toBe(attrs.length);
    if (self) continue;
    if (close) expect(stack.pop()).toBe(name);
    else stack.push(name!);
  }
  expect(stack).toEqual([]);
  expect(svg.match(/<text[\s>]/g)?.length).toBe(svg.match(/<\/text>/g)?.length);
}

describe('bench report', () => {
  describe('renderTable', () => {
    const out = renderTable(full);

    it('prints one row per measure with its numbers', () => {
      expect(lineWith(out, 'sequential run p50/p99 (ms)')).toMatch(/12\.00 \/ 29\.00$/);
      expect(lineWith(out, 'step overhead p50/p99 (ms)')).toMatch(/1\.20 \/ 2\.90$/);
      expect(lineWith(out, 'sequential CPU ms per step')).toMatch(/ 3\.50$/);
      // The machine's speed against the reference floors quoted with the peers (4× then 2× slower).
      expect(lineWith(out, 'PostgreSQL commits/s, 1 client')).toMatch(/1306 → 2611$/);
      expect(lineWith(out, 'JetStream publish+acks/s')).toMatch(/2292 → 4583$/);
      expect(lineWith(out, 'machine slower than')).toMatch(/4\.00× → 2\.00×$/);
      expect(lineWith(out, 'throughput runs/s')).toMatch(/ 240$/);
      expect(lineWith(out, 'steps/s')).toMatch(/ 2400$/);
      expect(lineWith(out, 'run latency p50/p99 at 64 in flight (ms)')).toMatch(
        /262\.50 \/ 410\.25$/,
      );
      expect(lineWith(out, 'CPU s per 1k steps')).toMatch(/ 0\.75$/);
      expect(lineWith(out, 'busiest process during (b) (CPU cores)')).toMatch(/ planner 0\.71$/);
      expect(lineWith(out, 'peak RSS planner (MiB)')).toMatch(/ 142$/);
      expect(lineWith(out, 'peak RSS tool-executor (MiB)')).toMatch(/ 98\.7$/);
      expect(lineWith(out, 'tool calls/s, 1 replica ')).toMatch(/ 612$/);
      expect(lineWith(out, 'tool calls/s, 2 replicas')).toMatch(/ 1188$/);
      expect(lineWith(out, 'scaling speedup')).toMatch(/ 1\.94×$/);
      expect(lineWith(out, 'soak runs completed / failed')).toMatch(/ 90000 \/ 0$/);
      expect(lineWith(out, 'soak RSS planner start→mid→end (MiB)')).toMatch(/ 130 → 134 → 135$/);
      expect(lineWith(out, 'soak event-loop delay p99 planner start→end (ms)')).toMatch(
        / 3\.10 → 3\.25$/,
      );
    });

    it('aligns the value column', () => {
      const starts = ['sequential run p50/p99', 'steps/s', 'scaling speedup'].map((l) =>
        lineWith(out, l).search(/\S+( \/ \S+)?$|\S+ → \S+$|\S+×$/),
      );
      expect(new Set(starts).size).toBe(1);
    });

    it('compares with every peer and marks Keel against DBOS', () => {
      const keel = lineWith(out, 'Keel (this run)');
      expect(keel).toContain('1.20 ✓'); // p50 1.20 < 1.48
      expect(keel).toContain('2.90 ✗'); // p99 2.90 > 2.49: worse
      expect(keel).toContain('2400 ✓'); // 2400 > 1832
      expect(keel).toContain('0.75 ✓'); // 0.75 < 0.90
      const dbos = lineWith(out, 'DBOS Transact 5.3');
      expect(dbos).not.toMatch(/[✓✗]/);
      expect(dbos).toContain('1832');
      expect(lineWith(out, 'Restate 1.7')).toContain('3998');
      expect(lineWith(out, 'pg-boss 10.4')).toContain('0.58');
      // Columns line up: the p99 column starts at the same offset in every row.
      const header = lineWith(out, 'system');
      const col = header.indexOf('step p99 (ms)');
      expect(keel.slice(col)).toMatch(/^2\.90 ✗/);
      expect(dbos.slice(col)).toMatch(/^2\.49 /);
    });

    it('marks ✗ where Keel is worse than DBOS on throughput and CPU', () => {
      const worse: BenchResults = {
        ...full,
        throughput: { ...full.throughput!, stepsPerS: 1500 },
        cost: { ...full.cost!, cpuSecondsPer1kSteps: 0.9 }, // a tie is not better
      };
      const keel = lineWith(renderTable(worse), 'Keel (this run)');
      expect(keel).toContain('1500 ✗');
      expect(keel).toContain('0.90 ✗');
      expect(keel).toContain('1.20 ✓');
    });

    it('renders with only the sequential section', () => {
      const t = renderTable(sequentialOnly);
      expect(t).toContain('step overhead p50/p99 (ms)');
      expect(t).not.toContain('throughput runs/s');
      expect(t).not.toContain('soak');
      const keel = lineWith(t, 'Keel (this run)');
      expect(keel).toContain('1.20 ✓');
      expect(keel).toContain('—');
    });

    it('adds the floor measured after the run, and Keel against it', () => {
      const floor = { stepP50Ms: 0.4, stepP99Ms: 1.45, stepsPerS: 3000, cpuSPer1kSteps: 0.6 };
      const t = renderTable({ ...full, floor: { ...floor, files: [] } });
      const row = lineWith(t, 'floor: the same hops without Keel (this run)');
      expect(row).toMatch(/0\.40 +1\.45 +3000 +0\.60$/);
      expect(row).not.toMatch(/[✓✗]/);
      // 1.20 / 0.40, 2.90 / 1.45, 2400 / 3000, 0.75 / 0.60
      expect(t).toContain(
        'Keel against the floor: step p50 3.00×, step p99 2.00×, steps/s 80 %, CPU per step 1.25×',
      );
      expect(renderTable(full)).not.toContain('floor');
      const md = renderMarkdown({ ...full, floor: { ...floor, files: [] } });
      expect(md).toContain(
        '| floor: the same hops without Keel (this run) | 0.40 | 1.45 | 3000 | 0.60 |',
      );
      expect(md).toContain('Keel against the floor: step p50 3.00×');
    });

    it('leaves out the comparison without peers', () => {
      expect(renderTable({ ...full, peers: [] })).not.toContain('Keel (this run)');
    });
  });

  describe('SVG charts', () => {
    it('draws the latency histogram with p50/p99 markers', () => {
      const svg = latencySvg(full)!;
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
      expectBalancedXml(svg);
      expect(svg).toContain('sequential p50 12.00 ms');
      expect(svg).toContain('64 in flight p99 410.25 ms');
      expect(svg).toContain('run latency (ms, log scale)');
      expect(svg).toContain('viewBox="0 0 720 320"');
      expect(svg).not.toMatch(/NaN|Infinity|<script|@import|url\(/);
    });

    it('draws completions over time with the average rate', () => {
      const svg = throughputSvg(full)!;
      expect(svg.startsWith('<svg')).toBe(true);
      expectBalancedXml(svg);
      expect(svg).toContain('avg 240 runs/s');
      expect(svg).toContain('time since start (s)');
      expect(svg).not.toMatch(/NaN|Infinity/);
    });

    it('draws one series from sequential alone, and no throughput chart', () => {
      const svg = latencySvg(sequentialOnly)!;
      expectBalancedXml(svg);
      expect(svg).toContain('p50 12.00 ms');
      expect(throughputSvg(sequentialOnly)).toBeUndefined();
      expect(latencySvg({ ...sequentialOnly, sequential: undefined })).toBeUndefined();
    });

    it('copes with identical samples', () => {
      const flat: BenchResults = {
        ...sequentialOnly,
        sequential: { ...full.sequential!, samplesMs: [5, 5, 5], runLatencyMs: dist(3, 5, 5) },
      };
      const svg = latencySvg(flat)!;
      expectBalancedXml(svg);
      expect(svg).not.toMatch(/NaN|Infinity/);
    });

    it('escapes text', () => {
      expect(escapeXml(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;');
    });
  });

  describe('renderMarkdown', () => {
    it('writes title, machine, config, sections, peers and chart links', () => {
      const md = renderMarkdown(full, { latencySvgFile: 'l.svg', throughputSvgFile: 't.svg' });
      expect(md).toMatch(
        /^# Keel benchmark: agent-run-10, 2026-11-21 06:30:00 UTC \(mode: default\)/,
      );
      expect(md).toContain('- CPU: 8 × AMD EPYC 7B13');
      expect(md).toContain('| inFlight | 64 |');
      for (const h of [
        'Sequential',
        'Throughput',
        'Cost',
        'Scaling',
        'Soak',
        'Compared with peers',
      ]) {
        expect(md).toContain(`## ${h}`);
      }
      expect(md).toContain('measured elsewhere on the same machine kind');
      expect(md).toContain('| Keel (this run) | 1.20 ✓ | 2.90 ✗ | 2400 ✓ | 0.75 ✓ |');
      expect(md).toContain(
        '| run latency (ms) | 500 | 8.40 | 12.96 | 12.00 | 20.50 | 29.00 | 37.70 |',
      );
      expect(md).toContain('](l.svg)');
      expect(md).toContain('](t.svg)');
    });

    it('renders with only the sequential section and no charts', () => {
      const md = renderMarkdown(sequentialOnly);
      expect(md).toContain('## Sequential');
      expect(md).not.toContain('## Throughput');
      expect(md).not.toContain('![');
    });
  });

  describe('writeReport', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'keel-bench-report-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('writes results, Markdown and both charts, creating the directory', () => {
      const out = join(dir, 'results', 'nested');
      const written = writeReport(full, out);
      const stamp = '2026-11-21T06-30-00Z';
      expect(written).toEqual({
        json: join(out, `${stamp}.json`),
        markdown: join(out, `${stamp}.md`),
        svgs: [join(out, `${stamp}-latency.svg`), join(out, `${stamp}-throughput.svg`)],
      });
      expect(readdirSync(out).sort()).toEqual(
        [`${stamp}-latency.svg`, `${stamp}-throughput.svg`, `${stamp}.json`, `${stamp}.md`].sort(),
      );
      expect(JSON.parse(readFileSync(written.json, 'utf8'))).toEqual(full);
      const md = readFileSync(written.markdown, 'utf8');
      expect(md).toContain(`](${stamp}-latency.svg)`);
      expect(md).toContain(`](${stamp}-throughput.svg)`);
      expect(readFileSync(written.svgs[0]!, 'utf8')).toMatch(/^<svg/);
    });

    it('writes only the latency chart when there was no throughput phase', () => {
      const written = writeReport(sequentialOnly, dir);
      expect(written.svgs).toHaveLength(1);
      expect(readdirSync(dir)).toHaveLength(3);
    });
  });
});
