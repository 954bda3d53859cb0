import type { Pool } from 'pg';
import { uuidv7, type RunEvent } from '@keel/contracts';
import { appendToStream, EventReadError, readStream } from '@keel/event-store';
import { countingQueries, migratedSchema } from './int-test-support';
import { ReadBatcher } from './read-batcher';

describe('ReadBatcher', () => {
  let pool: Pool;
  let drop: () => Promise<void>;
  beforeAll(async () => ({ pool, drop } = await migratedSchema('rb')));
  afterAll(() => drop());

  const completed = (answer: string): RunEvent => ({
    type: 'RunCompleted',
    data: { answer, steps: 1, usage: { inputTokens: 1, outputTokens: 1 } },
  });
  const metadata = (runId: string) => ({
    eventId: uuidv7(),
    correlationId: runId,
    tenant: 'acme',
    producer: 'test',
  });
  /** A stream of `n` events (their meaning is not the point here, only the rows). */
  async function streamOf(n: number): Promise<string> {
    const runId = uuidv7();
    const streamId = `run:${runId}`;
    const events = Array.from({ length: n }, (_, i) => ({
      ...completed(`answer ${i}`),
      metadata: metadata(runId),
    }));
    await appendToStream(pool, streamId, 0, events);
    return streamId;
  }

  it('reads asked for in the same turn share one statement; each gets what readStream gives', async () => {
    const [a, b] = [await streamOf(3), await streamOf(1)];
    const names: string[] = [];
    const reader = new ReadBatcher(countingQueries(pool, names));
    const got = await Promise.all([
      reader.read(a),
      reader.read(b),
      reader.read('run:none'),
      reader.read(a, { fromVersion: 2 }),
      reader.read(a, { toVersion: 1 }),
    ]);
    expect(names).toEqual(['keel_read_streams']);
    expect(got).toEqual([
      await readStream(pool, a),
      await readStream(pool, b),
      [],
      await readStream(pool, a, { fromVersion: 2 }),
      await readStream(pool, a, { toVersion: 1 }),
    ]);
    expect(got.map((events) => events.map((e) => e.streamVersion))).toEqual([
      [1, 2, 3],
      [1],
      [],
      [2, 3],
      [1],
    ]);

    // A read alone is a plain readStream.
    names.length = 0;
    expect(await reader.read(b)).toEqual(got[1]);
    expect(names).toEqual(['keel_read_stream']);
  });

  it('one stream that cannot be read fails its own reader only', async () => {
    const good = await streamOf(2);
    const poisoned = `run:${uuidv7()}`;
    const m = metadata(uuidv7());
    await pool.query(
      `INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data, metadata)
       VALUES ($1, $2, 1, 'SomethingElse', 1, '{}', $3)`,
      [m.eventId, poisoned, JSON.stringify(m)],
    );
    const names: string[] = [];
    const reader = new ReadBatcher(countingQueries(pool, names));
    const [bad, fine] = await Promise.allSettled([reader.read(poisoned), reader.read(good)]);
    expect(bad.status === 'rejected' && bad.reason).toBeInstanceOf(EventReadError);
    expect(fine).toEqual({ status: 'fulfilled', value: await readStream(pool, good) });
    // The batch failed as a whole, then each read was made alone.
    expect(names).toEqual(['keel_read_streams', 'keel_read_stream', 'keel_read_stream']);
  });
});
