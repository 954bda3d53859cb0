import type { Pool } from 'pg';
import { appendToStream } from './append';
import { eventually, freshStore, runCompleted, runRequested } from './int-test-support';
import { readAll, readAllRaw } from './read-all';
import { checkpointAfter, START_CHECKPOINT, type RecordedEvent } from './types';

describe('readAll (commit order)', () => {
  let pool: Pool;
  let drop: () => Promise<void>;

  beforeAll(async () => ({ pool, drop } = await freshStore()));
  afterAll(() => drop());

  it('never skips a transaction that commits after a later one', async () => {
    const t1 = await pool.connect();
    const t2 = await pool.connect();
    try {
      const a = runRequested();
      const b = runRequested();
      await t1.query('BEGIN');
      const [rowA] = (await appendToStream(t1, a.streamId, 0, [a.event])).records;
      await t2.query('BEGIN');
      const [rowB] = (await appendToStream(t2, b.streamId, 0, [b.event])).records;
      await t2.query('COMMIT');
      // T1 took its position first but is still open.
      expect(rowA!.globalPosition).toBeLessThan(rowB!.globalPosition);

      // A naive cursor sees T2's row now, and would move past T1's position for good.
      const naive = await pool.query<{ event_id: string }>(
        'SELECT event_id FROM events WHERE global_position > 0 ORDER BY global_position',
      );
      expect(naive.rows.map((r) => r.event_id)).toEqual([b.event.metadata.eventId]);
      // readAll holds T2's row back until everything before it in commit order is final.
      await expect(readAll(pool, START_CHECKPOINT, 100)).resolves.toEqual([]);

      await t1.query('COMMIT');
      const after = await eventually(
        () => readAll(pool, START_CHECKPOINT, 100),
        (rows) => rows.length >= 2,
      );
      expect(after.map((r) => r.metadata.eventId)).toEqual([
        a.event.metadata.eventId,
        b.event.metadata.eventId,
      ]);
      expect(BigInt(after[0]!.transactionId)).toBeLessThan(BigInt(after[1]!.transactionId));
    } finally {
      t1.release();
      t2.release();
    }
  });

  it('pages from a checkpoint without gaps or repeats', async () => {
    const start = await eventually(
      () => readAll(pool, START_CHECKPOINT, 1000),
      (rows) => rows.length >= 2,
    );
    const from = checkpointAfter(start.at(-1)!);
    const written: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { streamId, event } = runRequested();
      await appendToStream(pool, streamId, 0, [event]);
      written.push(event.metadata.eventId);
    }
    const seen: RecordedEvent[] = [];
    await eventually(
      async () => {
        const page = await readAll(pool, seen.length ? checkpointAfter(seen.at(-1)!) : from, 2);
        seen.push(...page);
        return seen.length;
      },
      (n) => n >= 5,
    );
    expect(seen.map((r) => r.metadata.eventId)).toEqual(written);

    const raw = await readAllRaw(pool, from, 10);
    expect(raw.map((r) => (r.metadata as { eventId: string }).eventId)).toEqual(written);
    expect(raw[0]).toMatchObject({ type: 'RunRequested', schemaVersion: 2 });
    expect(typeof raw[0]!.data).toBe('object');
  });

  it('orders positions numerically across a digit boundary (9 before 10, 99 before 100)', async () => {
    // Regression: sorting by the ::text aliases put '100' before '99'.
    const { streamId, event } = runRequested();
    const runId = event.data.runId;
    const more = Array.from({ length: 120 }, (_, i) => runCompleted(runId, `a${i}`));
    const store = await freshStore();
    try {
      await appendToStream(store.pool, streamId, 0, [event]);
      // One transaction: every event shares the xid, so only global_position orders them.
      await appendToStream(store.pool, streamId, 1, more);
      const rows = await eventually(
        () => readAllRaw(store.pool, START_CHECKPOINT, 1000),
        (r) => r.length >= 121,
      );
      expect(rows.map((r) => r.streamVersion)).toEqual(
        Array.from({ length: 121 }, (_, i) => i + 1),
      );
    } finally {
      await store.drop();
    }
  });
});
