import type { Pool } from 'pg';
import { uuidv7 } from '@keel/contracts';
import { appendToStream } from './append';
import { appendMany } from './append-many';
import { ConcurrencyError } from './errors';
import { freshStore, runCompleted, runRequested } from './int-test-support';
import { readStream } from './read-stream';
import type { AppendResult } from './types';

describe('appendMany (several streams, one statement)', () => {
  let pool: Pool;
  let drop: () => Promise<void>;
  beforeAll(async () => ({ pool, drop } = await freshStore()));
  afterAll(() => drop());

  const ok = (r: AppendResult | Error): AppendResult => {
    if (r instanceof Error) throw r;
    return r;
  };

  it('appends to each stream at its own expected version, in order', async () => {
    const a = runRequested();
    const b = runRequested();
    const [ra, rb] = await appendMany(pool, [
      {
        streamId: a.streamId,
        expectedVersion: 0,
        events: [a.event, runCompleted(a.event.data.runId)],
      },
      { streamId: b.streamId, expectedVersion: 0, events: [b.event] },
    ]);
    expect(ok(ra!).records.map((r) => r.streamVersion)).toEqual([1, 2]);
    expect(ok(rb!).nextExpectedVersion).toBe(1);
    expect((await readStream(pool, a.streamId)).map((r) => r.type)).toEqual([
      'RunRequested',
      'RunCompleted',
    ]);
    expect(ok(ra!).records[0]!.globalPosition).toBeLessThan(ok(ra!).records[1]!.globalPosition);
  });

  it('a stale item fails alone; the others are written', async () => {
    const a = runRequested();
    const b = runRequested();
    await appendToStream(pool, a.streamId, 0, [a.event]);
    const [ra, rb] = await appendMany(pool, [
      { streamId: a.streamId, expectedVersion: 0, events: [runCompleted(a.event.data.runId)] },
      { streamId: b.streamId, expectedVersion: 0, events: [b.event] },
    ]);
    expect(ra).toBeInstanceOf(ConcurrencyError);
    expect(ok(rb!).records).toHaveLength(1);
    expect(await readStream(pool, a.streamId)).toHaveLength(1);
  });

  it('records inbox rows with the events; an already-seen message is a duplicate and writes nothing', async () => {
    const a = runRequested();
    const b = runRequested();
    const seen = uuidv7();
    await appendToStream(pool, a.streamId, 0, [a.event], {
      inbox: { consumer: 'c', messageId: seen },
    });
    const fresh = uuidv7();
    const [ra, rb] = await appendMany(pool, [
      {
        streamId: a.streamId,
        expectedVersion: 1,
        events: [runCompleted(a.event.data.runId)],
        inbox: { consumer: 'c', messageId: seen },
      },
      {
        streamId: b.streamId,
        expectedVersion: 0,
        events: [b.event],
        inbox: { consumer: 'c', messageId: fresh },
      },
    ]);
    expect(ok(ra!)).toMatchObject({ duplicate: true, records: [] });
    expect(ok(rb!).records).toHaveLength(1);
    expect(await readStream(pool, a.streamId)).toHaveLength(1);
    const inbox = await pool.query('SELECT 1 FROM inbox WHERE consumer = $1 AND message_id = $2', [
      'c',
      fresh,
    ]);
    expect(inbox.rowCount).toBe(1);
  });
});
