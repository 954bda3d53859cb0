import type { ReceivedSpan } from '@keel/testing';

/**
 * The spans of one trace as a waterfall: start offset from the trace's first
 * span, duration, service and name, in start order. `--waterfall` samples every
 * trace and prints the last sequential run's, to see where a step's time goes.
 */
export function renderWaterfall(spans: readonly ReceivedSpan[], traceId: string): string {
  const mine = spans
    .filter((s) => s.traceId === traceId)
    .map((s) => ({
      s,
      start: Number(BigInt(s.startTimeUnixNano) / 1000n) / 1000,
      end: Number(BigInt(s.endTimeUnixNano) / 1000n) / 1000,
    }))
    .sort((a, b) => a.start - b.start);
  const t0 = mine[0]?.start ?? 0;
  const depth = new Map<string, number>();
  return mine
    .map(({ s, start, end }) => {
      const d = s.parentSpanId ? (depth.get(s.parentSpanId) ?? 0) + 1 : 0;
      depth.set(s.spanId, d);
      return `${(start - t0).toFixed(2).padStart(8)}  ${(end - start).toFixed(2).padStart(7)}  ${s.service.padEnd(14)} ${'  '.repeat(Math.min(d, 12))}${s.name}`;
    })
    .join('\n');
}
