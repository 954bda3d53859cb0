import type { Pool } from 'pg';
import {
  EventSchemaError,
  LEGACY_LIMITS,
  runIdFor,
  UnknownEventError,
  uuidv7,
} from '@keel/contracts';
import { EventReadError } from './errors';
import { eventually, freshStore, metadataFor } from './int-test-support';
import { readAllRaw } from './read-all';
import { readStream } from './read-stream';
import { START_CHECKPOINT, type RawRecordedEvent } from './types';

describe('upcasting on read', () => {
  let pool: Pool;
  let drop: () => Promise<void>;

  beforeAll(async () => ({ pool, drop } = await freshStore()));
  afterAll(() => drop());

  /** Store a row the way an older (or newer) build would have. */
  async function insertStored(
    streamId: string,
    type: string,
    schemaVersion: number,
    data: unknown,
  ) {
    const metadata = metadataFor(uuidv7());
    await pool.query(
      `INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data, metadata)
       VALUES ($1, $2, 1, $3, $4, $5, $6)`,
      [
        metadata.eventId,
        streamId,
        type,
        schemaVersion,
        JSON.stringify(data),
        JSON.stringify(metadata),
      ],
    );
  }

  it('reads a v1 RunRequested in the current v2 shape', async () => {
    const requestId = uuidv7();
    const runId = runIdFor('acme', requestId);
    const v1 = { runId, tenant: 'acme', requestId, prompt: 'hello', tools: ['search'] };
    await insertStored(`run:${runId}`, 'RunRequested', 1, v1);

    const [event] = await readStream(pool, `run:${runId}`);
    expect(event!.type).toBe('RunRequested');
    expect(event!.schemaVersion).toBe(1);
    expect(event!.data).toEqual({
      runId,
      tenant: 'acme',
      requestId,
      input: { prompt: 'hello' },
      capability: { tools: ['search'] },
      limits: { ...LEGACY_LIMITS },
    });

    // Open transactions elsewhere in the cluster may hold the horizon back briefly.
    const find = (rows: RawRecordedEvent[]) => rows.find((r) => r.streamId === `run:${runId}`);
    const raw = await eventually(
      () => readAllRaw(pool, START_CHECKPOINT, 100),
      (rows) => !!find(rows),
    );
    const stored = find(raw);
    expect(stored).toMatchObject({ type: 'RunRequested', schemaVersion: 1, data: v1 });
  });

  it('throws a typed error for a schema version newer than this build', async () => {
    const requestId = uuidv7();
    const runId = runIdFor('acme', requestId);
    await insertStored(`run:${runId}`, 'RunRequested', 3, { anything: true });
    const err = await readStream(pool, `run:${runId}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EventReadError);
    expect(err).toMatchObject({ code: 'EVENT_UNREADABLE', type: 'RunRequested', schemaVersion: 3 });
    expect((err as EventReadError).cause).toBeInstanceOf(EventSchemaError);
  });

  it('throws a typed error for an unknown event type', async () => {
    await insertStored('run:mystery', 'SomethingElse', 1, {});
    const err = await readStream(pool, 'run:mystery').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EventReadError);
    expect((err as EventReadError).cause).toBeInstanceOf(UnknownEventError);
  });
});
