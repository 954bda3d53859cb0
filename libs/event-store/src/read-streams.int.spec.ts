import type { Pool } from 'pg';
import { appendToStream } from './append';
import { EventReadError } from './errors';
import { freshStore, metadataFor, runCompleted, runRequested } from './int-test-support';
import { readStream, readStreams } from './read-stream';

describe('readStreams', () => {
  let pool: Pool;
  let drop: () => Promise<void>;
  beforeAll(async () => ({ pool, drop } = await freshStore()));
  afterAll(() => drop());

  it('gives, for each read, what readStream gives, in the order asked', async () => {
    const one = runRequested();
    const two = runRequested();
    await appendToStream(pool, one.streamId, 0, [one.event, runCompleted(one.runId)]);
    await appendToStream(pool, two.streamId, 0, [two.event]);
    const reads = [
      { streamId: two.streamId },
      { streamId: one.streamId },
      { streamId: 'run:none' },
      { streamId: one.streamId, fromVersion: 2 },
      { streamId: one.streamId, toVersion: 1 },
    ];
    const got = await readStreams(pool, reads);
    expect(got).toEqual(await Promise.all(reads.map((r) => readStream(pool, r.streamId, r))));
    expect(got.map((events) => events.map((e) => `${e.streamId}@${e.streamVersion}`))).toEqual([
      [`${two.streamId}@1`],
      [`${one.streamId}@1`, `${one.streamId}@2`],
      [],
      [`${one.streamId}@2`],
      [`${one.streamId}@1`],
    ]);
    expect(await readStreams(pool, [])).toEqual([]);
  });

  it('fails as a whole when one stream holds an event this build cannot read', async () => {
    const ok = runRequested();
    await appendToStream(pool, ok.streamId, 0, [ok.event]);
    const m = metadataFor(ok.runId);
    await pool.query(
      `INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data, metadata)
       VALUES ($1, 'run:unreadable', 1, 'SomethingElse', 1, '{}', $2)`,
      [m.eventId, JSON.stringify(m)],
    );
    await expect(
      readStreams(pool, [{ streamId: ok.streamId }, { streamId: 'run:unreadable' }]),
    ).rejects.toBeInstanceOf(EventReadError);
  });

  it('refuses a version bound out of range before asking PostgreSQL', async () => {
    await expect(readStreams(pool, [{ streamId: 'run:x', fromVersion: -1 }])).rejects.toThrow(
      /out of range/,
    );
  });
});
