import type { Pool, PoolClient } from 'pg';
import type { EventMetadata, KeelEvent } from '@keel/contracts';
import {
  appendToStream,
  ConcurrencyError,
  markProcessed,
  readStream,
  withTransaction,
  type RecordedEvent,
} from '@keel/event-store';

/**
 * The transactional step every handler is built from:
 *   read the stream → fold state → (inbox check) → decide → append with the
 *   expected version → commit.
 * One PostgreSQL transaction, so the inbox row and the new events commit
 * together or not at all. The stream is read BEFORE the first write so the
 * transaction's xid is taken after the versions it appends against; that keeps
 * relay (xid) order equal to per-stream version order.
 *
 * A concurrent writer to the same stream makes the append fail with a
 * ConcurrencyError; the step is then re-run from the read, up to `maxAttempts`.
 */

export interface AggregateSpec<S, E extends KeelEvent> {
  readonly initial: () => S;
  readonly evolve: (state: S, event: E) => S;
}

export interface StepResult<S, R> {
  /** `duplicate`: the inbox had already seen this message; nothing was decided. */
  readonly status: 'applied' | 'duplicate';
  readonly state: S;
  readonly version: number;
  readonly result: R;
  readonly records: RecordedEvent[];
}

export interface StepOptions<S, E extends KeelEvent, R> {
  readonly streamId: string;
  readonly inbox?: { consumer: string; messageId: string };
  readonly decide: (state: S) => { events: E[]; result: R };
  readonly metadata: () => EventMetadata;
  readonly maxAttempts?: number;
}

export async function loadAggregate<S, E extends KeelEvent>(
  q: Pool | PoolClient,
  spec: AggregateSpec<S, E>,
  streamId: string,
): Promise<{ state: S; version: number }> {
  const records = await readStream(q, streamId);
  let state = spec.initial();
  for (const r of records) state = spec.evolve(state, r as unknown as E);
  return { state, version: records.at(-1)?.streamVersion ?? 0 };
}

export async function runStep<S, E extends KeelEvent, R>(
  pool: Pool,
  spec: AggregateSpec<S, E>,
  opts: StepOptions<S, E, R>,
): Promise<StepResult<S, R>> {
  const maxAttempts = opts.maxAttempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    try {
      return await withTransaction(pool, async (client) => {
        const { state, version } = await loadAggregate(client, spec, opts.streamId);
        if (
          opts.inbox &&
          !(await markProcessed(client, opts.inbox.consumer, opts.inbox.messageId))
        ) {
          return {
            status: 'duplicate' as const,
            state,
            version,
            result: opts.decide(state).result,
            records: [],
          };
        }
        const { events, result } = opts.decide(state);
        if (events.length === 0)
          return { status: 'applied' as const, state, version, result, records: [] };
        const appended = await appendToStream(
          client,
          opts.streamId,
          version,
          events.map((e) => ({ ...e, metadata: opts.metadata() })),
        );
        const next = events.reduce(spec.evolve, state);
        return {
          status: 'applied' as const,
          state: next,
          version: appended.nextExpectedVersion,
          result,
          records: appended.records,
        };
      });
    } catch (err) {
      if (err instanceof ConcurrencyError && attempt < maxAttempts) {
        await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
        continue;
      }
      throw err;
    }
  }
}
