import type { JetStreamClient } from 'nats';
import type { Pool } from 'pg';

/**
 * The machine's speed right now, as the two reference floors issue 3 quotes
 * for this machine kind: autocommit INSERTs from one client (5,222 commits/s
 * when the peers were measured) and JetStream publish+ack with one in flight
 * (9,167 msgs/s). This kind of machine runs several times slower at some
 * hours than at others, so a run's figures only compare with the peers' at
 * the same calibration.
 */
export interface Calibration {
  readonly pgCommitsPerS: number;
  readonly jetStreamPublishAcksPerS: number;
}

/** The reference values quoted in issue 3 (same machine kind, when the peers were measured). */
export const REFERENCE_CALIBRATION: Calibration = {
  pgCommitsPerS: 5222,
  jetStreamPublishAcksPerS: 9167,
};

const PAYLOAD = JSON.stringify({ result: 'x'.repeat(180) });

/** Operations per second of `op`, one at a time, after a warm-up. */
async function rate(op: () => Promise<unknown>, ms: number): Promise<number> {
  for (let i = 0; i < 200; i++) await op();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    await op();
    n++;
  }
  return Math.round(n / ((performance.now() - t0) / 1000));
}

/**
 * Measures both floors for `ms` each. `pool` must allow `table` to be created
 * (it is created if missing and emptied afterwards); `subject` must be
 * captured by a JetStream stream.
 */
export async function calibrate(
  pool: Pool,
  table: string,
  js: JetStreamClient,
  subject: string,
  ms = 2000,
): Promise<Calibration> {
  await pool.query(
    `CREATE TABLE IF NOT EXISTS ${table} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, data jsonb NOT NULL)`,
  );
  const client = await pool.connect();
  try {
    const pgCommitsPerS = await rate(
      () =>
        client.query({
          name: 'calibration_insert',
          text: `INSERT INTO ${table} (data) VALUES ($1::jsonb)`,
          values: [PAYLOAD],
        }),
      ms,
    );
    await client.query(`TRUNCATE ${table}`);
    const jetStreamPublishAcksPerS = await rate(() => js.publish(subject, PAYLOAD), ms);
    return { pgCommitsPerS, jetStreamPublishAcksPerS };
  } finally {
    client.release();
  }
}

/** How many times slower than the reference the machine is now (geometric mean of both floors). */
export function slowdown(c: Calibration): number {
  const pg = REFERENCE_CALIBRATION.pgCommitsPerS / c.pgCommitsPerS;
  const js = REFERENCE_CALIBRATION.jetStreamPublishAcksPerS / c.jetStreamPublishAcksPerS;
  return Math.round(Math.sqrt(pg * js) * 100) / 100;
}
