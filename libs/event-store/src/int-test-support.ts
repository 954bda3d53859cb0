// Shared set-up for this library's *.int.spec.ts files (not exported).
import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { runIdFor, uuidv7, type EventMetadata } from '@keel/contracts';
import { dropSchema as dropSchemaNamed } from './drop-schema';
import { migrate } from './migrate';
import { createPool } from './pool';
import type { NewEvent } from './types';

export const TEST_DATABASE_URL =
  process.env.KEEL_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const randomSchema = () => `es_${randomBytes(6).toString('hex')}`;

/** A migrated random schema and a pool pinned to it; `drop()` removes both. */
export async function freshStore(
  max = 10,
): Promise<{ pool: Pool; schema: string; drop: () => Promise<void> }> {
  const schema = randomSchema();
  const pool = createPool({ connectionString: TEST_DATABASE_URL, schema, max });
  await migrate(pool, schema);
  return { pool, schema, drop: () => dropSchema(pool, schema) };
}

/** Ends `pool`, then drops `schema`. */
export async function dropSchema(pool: Pool, schema: string): Promise<void> {
  await pool.end();
  await dropSchemaNamed(TEST_DATABASE_URL, schema);
}

export function metadataFor(runId: string, tenant = 'acme'): EventMetadata {
  return { eventId: uuidv7(), correlationId: runId, tenant, producer: 'event-store-test' };
}

/** A valid current-version `RunRequested` for a fresh run. */
export function runRequested(requestId = uuidv7(), tenant = 'acme') {
  const runId = runIdFor(tenant, requestId);
  const event: NewEvent = {
    type: 'RunRequested',
    data: {
      runId,
      tenant,
      requestId,
      input: { prompt: 'What is the weather in Oslo?' },
      capability: { tools: ['weather'] },
      limits: {
        maxSteps: 5,
        maxToolCalls: 5,
        maxTokens: 10_000,
        deadlineAt: '2030-01-01T00:00:00.000Z',
      },
    },
    metadata: metadataFor(runId, tenant),
  };
  return { runId, streamId: `run:${runId}`, event };
}

export function runCompleted(runId: string, answer = 'Sunny'): NewEvent {
  return {
    type: 'RunCompleted',
    data: { answer, steps: 1, usage: { inputTokens: 10, outputTokens: 5 } },
    metadata: metadataFor(runId),
  };
}

/** Poll `read` until `done` holds or `timeoutMs` passes; returns the last value. */
export async function eventually<T>(
  read: () => Promise<T>,
  done: (v: T) => boolean,
  timeoutMs = 5000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
}
