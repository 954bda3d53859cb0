import pino from 'pino';
import type { Pool } from 'pg';
import { uuidv7 } from '@keel/contracts';
import { migratedTestSchema, waitFor, type TestSchema } from '@keel/testing';
import { DeadlineTimers } from './deadline-timers';

describe('DeadlineTimers against PostgreSQL', () => {
  const log = pino({ level: 'silent' });
  let db: TestSchema;
  let pool: Pool;
  beforeAll(async () => {
    db = await migratedTestSchema('dt');
    pool = db.pool;
  });
  afterAll(() => db.drop());

  const timerOf = async (runId: string) =>
    (await pool.query('SELECT run_id FROM deadline_timers WHERE run_id = $1', [runId])).rowCount;
  const deadline = () => new Date(Date.now() + 60_000).toISOString();

  it('arms once: only the call that created the row says so, on this replica or another', async () => {
    const [a, b] = [new DeadlineTimers(pool, log), new DeadlineTimers(pool, log)];
    const runId = uuidv7();
    expect(await a.arm(runId, 'acme', deadline())).toBe(true);
    expect(await a.arm(runId, 'acme', deadline())).toBe(false); // a retried first reservation
    expect(await b.arm(runId, 'acme', deadline())).toBe(false); // another replica
    expect(await timerOf(runId)).toBe(1);
  });

  it('arms runs asked for in the same turn in one statement, each with its own answer', async () => {
    const timers = new DeadlineTimers(pool, log);
    const [armed, fresh, twice] = [uuidv7(), uuidv7(), uuidv7()];
    expect(await timers.arm(armed, 'acme', deadline())).toBe(true);
    const statements: string[] = [];
    const query = pool.query.bind(pool);
    const spy = jest.spyOn(pool, 'query').mockImplementation(((config: { name?: string }) => {
      statements.push(config.name ?? '?');
      return query(config as never);
    }) as never);
    try {
      const answers = await Promise.all([
        timers.arm(armed, 'acme', deadline()),
        timers.arm(fresh, 'acme', deadline()),
        timers.arm(twice, 'acme', deadline()),
        timers.arm(twice, 'acme', deadline()), // a retried first reservation in the same turn
      ]);
      expect(answers).toEqual([false, true, true, false]);
      expect(statements).toEqual(['keel_arm_deadlines']);
      // One bad row (a deadline PostgreSQL cannot read) fails its own arming only.
      const bad = uuidv7();
      const other = uuidv7();
      const mixed = await Promise.allSettled([
        timers.arm(bad, 'acme', 'not a time'),
        timers.arm(other, 'acme', deadline()),
      ]);
      expect(mixed[0].status).toBe('rejected');
      expect(mixed[1]).toEqual({ status: 'fulfilled', value: true });
    } finally {
      spy.mockRestore();
    }
    for (const r of [armed, fresh, twice]) expect(await timerOf(r)).toBe(1);
  });

  it('disarms finished runs together, soon after; stop() deletes what is still pending', async () => {
    const timers = new DeadlineTimers(pool, log, { disarmEveryMs: 50 });
    const runs = [uuidv7(), uuidv7(), uuidv7()];
    for (const r of runs) await timers.arm(r, 'acme', deadline());
    timers.disarm(runs[0]!);
    timers.disarm(runs[1]!);
    await waitFor(async () => (await timerOf(runs[0]!)) === 0 && (await timerOf(runs[1]!)) === 0, {
      description: 'the two disarmed timers to be deleted',
    });
    expect(await timerOf(runs[2]!)).toBe(1);

    const slow = new DeadlineTimers(pool, log, { disarmEveryMs: 60_000 });
    slow.disarm(runs[2]!);
    await slow.stop();
    expect(await timerOf(runs[2]!)).toBe(0);
    // Deleted: arming it again writes the row again.
    expect(await slow.arm(runs[2]!, 'acme', deadline())).toBe(true);
  });
});
