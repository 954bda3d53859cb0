/**
 * Test-only fault injection: the chaos suite (docs/reliability.md) needs a
 * process to die at an exact point, which no outside `kill` can hit.
 *
 * Off unless `KEEL_FAULT_KILL_AT` is set (a comma-separated list of points);
 * unset, `faultPoint` is one Set lookup and does nothing. Points:
 * - `relay:after-publish` — the relay got every PubAck of a batch and has not
 *   written its checkpoint;
 * - `consumer:<durable>:before-ack` — a handler returned (its PostgreSQL
 *   transaction committed) and the ack has not been sent.
 * `KEEL_FAULT_KILL_AFTER=<n>` fires on the n-th hit of a point (default 1).
 * Firing writes one line to stderr and SIGKILLs the process: no cleanup, no
 * flush, no ack — exactly what a crash at that point looks like.
 */
const armed: ReadonlySet<string> = new Set(
  (process.env.KEEL_FAULT_KILL_AT ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0),
);
const fireOn = Math.max(1, Number.parseInt(process.env.KEEL_FAULT_KILL_AFTER ?? '1', 10) || 1);
const hits = new Map<string, number>();

export function faultPoint(point: string, detail: Record<string, unknown> = {}): void {
  if (armed.size === 0 || !armed.has(point)) return;
  const n = (hits.get(point) ?? 0) + 1;
  hits.set(point, n);
  if (n < fireOn) return;
  // stderr on a pipe or file is synchronous in Node on Linux: the line is out before the kill.
  process.stderr.write(
    `${JSON.stringify({ msg: 'fault injected: SIGKILL', point, hit: n, ...detail })}\n`,
  );
  process.kill(process.pid, 'SIGKILL');
  // Never return into the caller while the signal lands.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
}

/**
 * Test-only: `KEEL_TEST_ACK_WAIT_MS` replaces every durable's ack wait when
 * it is declared, so a suite that kills consumers mid-message waits seconds,
 * not the production 30 s, for the redelivery. Unset: `configured`.
 */
export function ackWaitOverride(configured: number): number {
  const raw = process.env.KEEL_TEST_ACK_WAIT_MS;
  const ms = raw === undefined || raw === '' ? Number.NaN : Number(raw);
  return Number.isInteger(ms) && ms >= 1000 ? ms : configured;
}
