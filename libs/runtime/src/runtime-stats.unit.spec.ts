import { Writable } from 'node:stream';
import pino from 'pino';
import { startRuntimeStats } from './runtime-stats';

/** The soak's evidence: one "runtime stats" line per interval, with the heap split by V8 space. */
describe('startRuntimeStats', () => {
  it('logs memory by V8 space, large objects included, and stops when asked', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    // ~16 MiB in one array: V8 puts an object this big in large-object space.
    const big = new Array<number>(2_000_000).fill(1.5);
    // Short-lived garbage: the scavenges it causes move the array to the old large-object space.
    let garbage: unknown;
    for (let i = 0; i < 2_000_000; i++) garbage = { i, pair: [i, i] };
    expect(garbage).toBeDefined();
    const stop = startRuntimeStats(pino(sink), 20);
    while (lines.length === 0) await new Promise((r) => setTimeout(r, 10));
    stop();
    const seen = lines.length;
    await new Promise((r) => setTimeout(r, 60));
    expect(lines.length).toBe(seen);

    const stats = lines[0]!;
    expect(stats.msg).toBe('runtime stats');
    expect(stats.largeObjectMiB).toBeGreaterThanOrEqual(15);
    expect(stats.oldSpaceMiB).toBeGreaterThan(0);
    expect(stats.oldSpaceUsedMiB).toBeGreaterThan(0);
    expect(stats.oldSpaceUsedMiB as number).toBeLessThanOrEqual(stats.oldSpaceMiB as number);
    expect(stats.newSpaceMiB).toBeGreaterThan(0);
    expect(stats.heapTotalMiB as number).toBeGreaterThanOrEqual(
      (stats.oldSpaceMiB as number) + (stats.largeObjectMiB as number),
    );
    expect(big.length).toBe(2_000_000); // kept alive until the sample was taken
  });

  it('logs nothing at 0', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const stop = startRuntimeStats(pino(sink), 0);
    await new Promise((r) => setTimeout(r, 50));
    stop();
    expect(lines).toEqual([]);
  });
});
