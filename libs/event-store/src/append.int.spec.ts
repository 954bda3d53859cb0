import type { Pool } from 'pg';
import { uuidv7 } from '@keel/contracts';
import { appendToStream } from './append';
import { ConcurrencyError, DuplicateEventError, InvalidEventError } from './errors';
import { freshStore, runCompleted, runRequested } from './int-test-support';
import { readStream, streamVersion } from './read-stream';
import type { NewEvent } from './types';

describe('appendToStream / readStream', () => {
  let pool: Pool;
  let drop: () => Promise<void>;

  beforeAll(async () => ({ pool, drop } = await freshStore(25)));
  afterAll(() => drop());

  it('round-trips events with versions, positions and metadata', async () => {
    const { runId, streamId, event } = runRequested();
    const done = runCompleted(runId);
    const first = await appendToStream(pool, streamId, 0, [event]);
    expect(first.nextExpectedVersion).toBe(1);
    const second = await appendToStream(pool, streamId, 1, [done]);
    expect(second.nextExpectedVersion).toBe(2);
    expect(second.records[0]!.globalPosition).toBeGreaterThan(first.records[0]!.globalPosition);

    const read = await readStream(pool, streamId);
    expect(read.map((r) => [r.streamVersion, r.type])).toEqual([
      [1, 'RunRequested'],
      [2, 'RunCompleted'],
    ]);
    expect(read).toEqual([...first.records, ...second.records]);
    const [requested] = read;
    expect(requested!.data).toEqual(event.data);
    expect(requested!.metadata).toEqual(event.metadata);
    expect(requested!.schemaVersion).toBe(2);
    expect(requested!.transactionId).toMatch(/^\d+$/);
    expect(requested!.createdAt).toBeInstanceOf(Date);
    if (requested!.type === 'RunRequested') expect(requested!.data.input.prompt).toMatch(/Oslo/);

    await expect(streamVersion(pool, streamId)).resolves.toBe(2);
    await expect(streamVersion(pool, 'run:none')).resolves.toBe(0);
    const tail = await readStream(pool, streamId, { fromVersion: 2 });
    expect(tail.map((r) => r.streamVersion)).toEqual([2]);
    const head = await readStream(pool, streamId, { toVersion: 1 });
    expect(head.map((r) => r.streamVersion)).toEqual([1]);
  });

  it('writes a batch in one statement with consecutive versions', async () => {
    const { runId, streamId, event } = runRequested();
    const res = await appendToStream(pool, streamId, 0, [event, runCompleted(runId)]);
    expect(res.nextExpectedVersion).toBe(2);
    expect(res.records.map((r) => r.streamVersion)).toEqual([1, 2]);
    expect(res.records[0]!.transactionId).toBe(res.records[1]!.transactionId);
    expect(res.records[1]!.globalPosition).toBe(res.records[0]!.globalPosition + 1n);
  });

  it('treats an empty append as a no-op', async () => {
    await expect(appendToStream(pool, 'run:empty', 7, [])).resolves.toEqual({
      nextExpectedVersion: 7,
      records: [],
    });
  });

  it('rejects a stale expected version', async () => {
    const { runId, streamId, event } = runRequested();
    await appendToStream(pool, streamId, 0, [event]);
    const err = await appendToStream(pool, streamId, 0, [runCompleted(runId)]).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConcurrencyError);
    expect(err).toMatchObject({
      name: 'ConcurrencyError',
      code: 'CONCURRENCY_CONFLICT',
      streamId,
      expectedVersion: 0,
    });
    await expect(streamVersion(pool, streamId)).resolves.toBe(1);
  });

  it('rejects an expected version ahead of the stream (no gaps)', async () => {
    const { runId, streamId, event } = runRequested();
    await appendToStream(pool, streamId, 0, [event]);
    await expect(appendToStream(pool, streamId, 3, [runCompleted(runId)])).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
    await expect(
      appendToStream(pool, 'run:never', 1, [runCompleted(uuidv7())]),
    ).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(streamVersion(pool, streamId)).resolves.toBe(1);
  });

  it('lets exactly one of 20 concurrent writers win', async () => {
    const { runId, streamId } = runRequested();
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        appendToStream(pool, streamId, 0, [runRequested().event, runCompleted(runId)]),
      ),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(19);
    for (const r of lost) expect(r.reason).toBeInstanceOf(ConcurrencyError);
    const read = await readStream(pool, streamId);
    expect(read.map((r) => r.streamVersion)).toEqual([1, 2]);
  });

  it('rejects an invalid event and writes nothing', async () => {
    const { runId, streamId, event } = runRequested();
    const bad = { ...runCompleted(runId), data: { answer: 42 } } as unknown as NewEvent;
    const err = await appendToStream(pool, streamId, 0, [event, bad]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidEventError);
    expect(err).toMatchObject({ code: 'INVALID_EVENT', index: 1, type: 'RunCompleted' });
    const unknownType = { ...event, type: 'NoSuchEvent' } as unknown as NewEvent;
    await expect(appendToStream(pool, streamId, 0, [unknownType])).rejects.toBeInstanceOf(
      InvalidEventError,
    );
    const badMeta = { ...event, metadata: { ...event.metadata, eventId: 'nope' } };
    await expect(appendToStream(pool, streamId, 0, [badMeta])).rejects.toBeInstanceOf(
      InvalidEventError,
    );
    await expect(streamVersion(pool, streamId)).resolves.toBe(0);
  });

  it('rejects a duplicate event id with a distinct error', async () => {
    const a = runRequested();
    await appendToStream(pool, a.streamId, 0, [a.event]);
    const b = runRequested();
    const copy = {
      ...b.event,
      metadata: { ...b.event.metadata, eventId: a.event.metadata.eventId },
    };
    const err = await appendToStream(pool, b.streamId, 0, [copy]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DuplicateEventError);
    expect(err).toMatchObject({ code: 'DUPLICATE_EVENT', eventId: a.event.metadata.eventId });
    await expect(streamVersion(pool, b.streamId)).resolves.toBe(0);
  });

  describe('with an inbox entry (one statement: inbox row + events)', () => {
    const inboxRows = async (messageId: string) =>
      (
        await pool.query('SELECT 1 FROM inbox WHERE consumer = $1 AND message_id = $2', [
          'c1',
          messageId,
        ])
      ).rowCount;

    it('records the message and appends the events together', async () => {
      const { streamId, event } = runRequested();
      const messageId = uuidv7();
      const res = await appendToStream(pool, streamId, 0, [event], {
        inbox: { consumer: 'c1', messageId },
      });
      expect(res.duplicate).toBeUndefined();
      expect(res.records.map((r) => r.streamVersion)).toEqual([1]);
      expect(await inboxRows(messageId)).toBe(1);
    });

    it('a redelivered message writes nothing and says duplicate', async () => {
      const { streamId, event } = runRequested();
      const messageId = uuidv7();
      await appendToStream(pool, streamId, 0, [event], { inbox: { consumer: 'c1', messageId } });
      const again = await appendToStream(pool, streamId, 1, [runCompleted(event.data.runId)], {
        inbox: { consumer: 'c1', messageId },
      });
      expect(again).toMatchObject({ duplicate: true, records: [], nextExpectedVersion: 1 });
      expect(await streamVersion(pool, streamId)).toBe(1);
    });

    it('a stale expected version throws ConcurrencyError and leaves no inbox row', async () => {
      const { streamId, event } = runRequested();
      await appendToStream(pool, streamId, 0, [event]);
      const messageId = uuidv7();
      await expect(
        appendToStream(pool, streamId, 0, [runCompleted(event.data.runId)], {
          inbox: { consumer: 'c1', messageId },
        }),
      ).rejects.toBeInstanceOf(ConcurrencyError);
      expect(await inboxRows(messageId)).toBe(0);
    });
  });
});
