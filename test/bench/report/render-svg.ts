import type { BenchResults } from '../results';
import { fmtInt, fmtMs } from './format';
import {
  COLORS,
  FONT,
  PLOT,
  axes,
  line,
  logTicks,
  niceTicks,
  px,
  rect,
  svgDocument,
  text,
} from './svg-kit';

const BUCKETS = 40;
const HALO = 'stroke="#ffffff" stroke-width="3" paint-order="stroke"';

interface Series {
  readonly name: string;
  readonly samples: readonly number[];
  readonly p50: number;
  readonly p99: number;
}

function latencySeries(r: BenchResults): Series[] {
  const out: Series[] = [];
  const { sequential: seq, throughput: tp } = r;
  if (seq && seq.samplesMs.length > 0) {
    const { p50, p99 } = seq.runLatencyMs;
    out.push({ name: 'sequential', samples: seq.samplesMs, p50, p99 });
  }
  if (tp && tp.samplesMs.length > 0) {
    const { p50, p99 } = tp.runLatencyMs;
    out.push({ name: `${tp.inFlight} in flight`, samples: tp.samplesMs, p50, p99 });
  }
  return out;
}

/** Maps values onto [0, 1] of the x range, log when the data spans a factor of 4 or more. */
function xScale(values: readonly number[]): {
  log: boolean;
  lo: number;
  hi: number;
  unit: (v: number) => number;
} {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  const log = lo > 0 && hi / lo >= 4;
  if (hi <= lo) {
    const pad = lo > 0 ? lo * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const unit = log
    ? (v: number) => (Math.log(v) - Math.log(lo)) / (Math.log(hi) - Math.log(lo))
    : (v: number) => (v - lo) / (hi - lo);
  return { log, lo, hi, unit };
}

/** Histogram of per-run latencies (sequential and in-flight runs), p50/p99 marked. */
export function latencySvg(r: BenchResults): string | undefined {
  const series = latencySeries(r);
  if (series.length === 0) return undefined;
  const values = series.flatMap((s) => [...s.samples, s.p50, s.p99]).filter(Number.isFinite);
  if (values.length === 0) return undefined;
  const sx = xScale(values);
  const pw = PLOT.right - PLOT.left;
  const xOf = (v: number): number => PLOT.left + Math.min(Math.max(sx.unit(v), 0), 1) * pw;

  // Share of each series' runs per bucket, in %.
  const shares = series.map((s) => {
    const counts = new Array<number>(BUCKETS).fill(0);
    for (const v of s.samples) {
      if (!Number.isFinite(v) || (sx.log && v <= 0)) continue;
      const i = Math.min(Math.max(Math.floor(sx.unit(v) * BUCKETS), 0), BUCKETS - 1);
      counts[i] = (counts[i] ?? 0) + 1;
    }
    return counts.map((c) => (c / s.samples.length) * 100);
  });
  const yMax = Math.max(1, ...shares.flat());
  const yTicks = niceTicks(0, yMax * 1.05, 4);
  const yTop = Math.max(yMax * 1.05, yTicks[yTicks.length - 1] ?? 0);
  const yOf = (v: number): number => PLOT.bottom - (v / yTop) * (PLOT.bottom - PLOT.top);

  const body = axes({
    xTicks: sx.log ? logTicks(sx.lo, sx.hi) : niceTicks(sx.lo, sx.hi),
    xOf,
    xTitle: `run latency (ms${sx.log ? ', log scale' : ''})`,
    yTicks,
    yOf,
    yTitle: 'share of runs (%)',
  });

  // Series overlaid, translucent, so overlapping ranges stay readable.
  const slot = pw / BUCKETS;
  shares.forEach((bucketShares, j) => {
    const fill = `fill="${COLORS[j % COLORS.length]}" fill-opacity="${series.length > 1 ? 0.55 : 0.85}"`;
    bucketShares.forEach((share, i) => {
      if (share <= 0) return;
      const y = yOf(share);
      body.push(rect(PLOT.left + i * slot + 0.5, y, slot - 1, PLOT.bottom - y, fill));
    });
  });

  let k = 0;
  series.forEach((s, j) => {
    const color = COLORS[j % COLORS.length] ?? '#000';
    const prefix = series.length > 1 ? `${s.name} ` : '';
    for (const [name, v, dash] of [
      ['p50', s.p50, ''],
      ['p99', s.p99, ' stroke-dasharray="5 3"'],
    ] as const) {
      if (!Number.isFinite(v)) continue;
      const x = xOf(v);
      body.push(line(x, PLOT.top, x, PLOT.bottom, `stroke="${color}" stroke-width="1.5"${dash}`));
      const nearRight = x > PLOT.right - 140;
      body.push(
        text(
          nearRight ? x - 4 : x + 4,
          PLOT.top + 12 + k * 13,
          `${prefix}${name} ${fmtMs(v)} ms`,
          `${FONT} fill="${color}" text-anchor="${nearRight ? 'end' : 'start'}" ${HALO}`,
        ),
      );
      k++;
    }
  });

  series.forEach((s, j) => {
    const x = PLOT.left + j * 200;
    body.push(rect(x, PLOT.top - 13, 10, 10, `fill="${COLORS[j % COLORS.length]}"`));
    body.push(text(x + 14, PLOT.top - 4, `${s.name} (${s.samples.length} runs)`, FONT));
  });

  return svgDocument('Run latency', body);
}

/** Completed runs per bucket over the throughput phase, with the average rate. */
export function throughputSvg(r: BenchResults): string | undefined {
  const tp = r.throughput;
  if (!tp || tp.completionsPerBucket.length === 0 || !(tp.bucketMs > 0)) return undefined;
  const counts = tp.completionsPerBucket;
  const bucketS = tp.bucketMs / 1000;
  const totalS = counts.length * bucketS;
  const pw = PLOT.right - PLOT.left;
  const xOf = (t: number): number => PLOT.left + (t / totalS) * pw;
  const avgPerBucket = tp.runsPerS * bucketS;
  const yMax = Math.max(1, avgPerBucket, ...counts);
  const yTicks = niceTicks(0, yMax * 1.05, 4);
  const yTop = Math.max(yMax * 1.05, yTicks[yTicks.length - 1] ?? 0);
  const yOf = (v: number): number => PLOT.bottom - (v / yTop) * (PLOT.bottom - PLOT.top);

  const body = axes({
    xTicks: niceTicks(0, totalS, 6),
    xOf,
    xTitle: 'time since start (s)',
    yTicks,
    yOf,
    yTitle: `runs completed per ${tp.bucketMs} ms`,
  });

  const slot = pw / counts.length;
  const barW = Math.max(slot > 4 ? slot - 1 : slot, 0.5);
  counts.forEach((c, i) => {
    if (!(c > 0)) return;
    const y = yOf(c);
    body.push(rect(xOf(i * bucketS), y, barW, PLOT.bottom - y, `fill="${COLORS[0]}"`));
  });

  const yAvg = yOf(avgPerBucket);
  body.push(
    line(
      PLOT.left,
      yAvg,
      PLOT.right,
      yAvg,
      `stroke="${COLORS[1]}" stroke-width="1.5" stroke-dasharray="6 3"`,
    ),
  );
  body.push(
    text(
      PLOT.right - 4,
      yAvg - 5,
      `avg ${fmtInt(tp.runsPerS)} runs/s`,
      `${FONT} fill="${COLORS[1]}" text-anchor="end" ${HALO}`,
    ),
  );

  const title = `Completions over time (${tp.inFlight} in flight, ${tp.runs} runs, ${px(tp.durationS)} s)`;
  return svgDocument(title, body);
}
