import type { Pool } from 'pg';
import type { EventMetadata, KeelEvent } from '@keel/contracts';
import type { AppendBatcher } from './append-batcher';
import type { ReadBatcher } from './read-batcher';
import {
  appendToStream,
  ConcurrencyError,
  readStream,
  type InboxEntry,
  type NewEvent,
  type RecordedEvent,
} from '@keel/event-store';

/**
 * The step every handler is built from:
 *   state (cached, or folded from the stream) → decide → ONE statement that
 *   inserts the inbox row and appends the events with the expected version.
 * One round trip and one commit per step. The inbox row and the events commit
 * together or not at all; a redelivered message writes nothing.
 *
 * The cache is only an optimisation: a stale entry (another replica wrote the
 * stream) makes the append fail on its expected version; the entry is then
 * dropped, the stream re-read and the step decided again, up to
 * `maxAttempts`. Deciders must therefore be idempotent — they are: a repeated
 * input returns `[]`.
 */

export interface AggregateSpec<S, E extends KeelEvent> {
  readonly initial: () => S;
  readonly evolve: (state: S, event: E) => S;
}

interface Entry<S> {
  readonly state: S;
  readonly version: number;
}

/**
 * Per-process LRU of aggregate states by stream id. `retain` decides which
 * states are worth keeping: a finished run is not touched again, so the
 * planner drops it at once instead of letting it age out.
 */
export class AggregateCache<S> {
  private readonly entries = new Map<string, Entry<S>>();
  constructor(
    private readonly max = 5_000,
    private readonly retain: (state: S) => boolean = () => true,
  ) {}

  get(streamId: string): Entry<S> | undefined {
    const e = this.entries.get(streamId);
    if (e) {
      this.entries.delete(streamId);
      this.entries.set(streamId, e);
    }
    return e;
  }

  set(streamId: string, entry: Entry<S>): void {
    this.entries.delete(streamId);
    if (!this.retain(entry.state)) return;
    this.entries.set(streamId, entry);
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  delete(streamId: string): void {
    this.entries.delete(streamId);
  }

  get size(): number {
    return this.entries.size;
  }
}

export interface StepResult<S, R> {
  /** `duplicate`: the inbox had already seen this message; nothing was written. */
  readonly status: 'applied' | 'duplicate';
  readonly state: S;
  readonly version: number;
  readonly result: R;
  readonly records: RecordedEvent[];
}

export interface StepOptions<S, E extends KeelEvent, R> {
  readonly streamId: string;
  readonly inbox?: InboxEntry;
  readonly decide: (state: S) => { events: E[]; result: R };
  readonly metadata: () => EventMetadata;
  readonly cache?: AggregateCache<S>;
  /** Group appends (and their inbox rows) that happen together into one statement. */
  readonly batcher?: AppendBatcher;
  /** Group stream reads (cache misses) that happen together into one statement. */
  readonly reader?: ReadBatcher;
  readonly maxAttempts?: number;
  /**
   * The caller has reason to think the stream does not exist yet (a run's first
   * reservation): on a cache miss the first attempt starts from the initial
   * state at version 0 instead of reading the stream. A wrong guess costs one
   * append that fails its expected version; the stream is then read as usual.
   */
  readonly assumeNew?: boolean;
}

/**
 * The stream's state: the cached entry, or the stream folded (read through
 * `reader` when given, so reads of several streams share a round trip).
 */
export async function loadAggregate<S, E extends KeelEvent>(
  pool: Pool,
  spec: AggregateSpec<S, E>,
  streamId: string,
  cache?: AggregateCache<S>,
  reader?: ReadBatcher,
): Promise<Entry<S>> {
  const cached = cache?.get(streamId);
  if (cached) return cached;
  const records = reader ? await reader.read(streamId) : await readStream(pool, streamId);
  let state = spec.initial();
  for (const r of records) state = spec.evolve(state, r as unknown as E);
  const entry = { state, version: records.at(-1)?.streamVersion ?? 0 };
  cache?.set(streamId, entry);
  return entry;
}

/** Append decided events (and the inbox row) at the entry's version; updates the cache. */
export async function commitStep<S, E extends KeelEvent>(
  pool: Pool,
  spec: AggregateSpec<S, E>,
  streamId: string,
  entry: Entry<S>,
  events: readonly E[],
  opts: {
    inbox?: InboxEntry;
    metadata: () => EventMetadata;
    cache?: AggregateCache<S>;
    batcher?: AppendBatcher;
    /** The state after `events`, when the caller has folded them already (else folded here). */
    next?: S;
  },
): Promise<{ duplicate: boolean; entry: Entry<S>; records: RecordedEvent[] }> {
  if (events.length === 0 && !opts.inbox) return { duplicate: false, entry, records: [] };
  try {
    const withMetadata = events.map((e) => ({ ...e, metadata: opts.metadata() }));
    const inbox = opts.inbox ? { inbox: opts.inbox } : {};
    const res = opts.batcher
      ? await opts.batcher.append({
          streamId,
          expectedVersion: entry.version,
          events: withMetadata as NewEvent[],
          ...inbox,
        })
      : await appendToStream(pool, streamId, entry.version, withMetadata, inbox);
    if (res.duplicate) return { duplicate: true, entry, records: [] };
    const next = {
      state: opts.next ?? events.reduce(spec.evolve, entry.state),
      version: res.nextExpectedVersion,
    };
    opts.cache?.set(streamId, next);
    return { duplicate: false, entry: next, records: res.records };
  } catch (err) {
    if (err instanceof ConcurrencyError) opts.cache?.delete(streamId);
    throw err;
  }
}

export async function runStep<S, E extends KeelEvent, R>(
  pool: Pool,
  spec: AggregateSpec<S, E>,
  opts: StepOptions<S, E, R>,
): Promise<StepResult<S, R>> {
  const maxAttempts = opts.maxAttempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    const hit = opts.cache?.get(opts.streamId);
    const guess = !hit && attempt === 1 && opts.assumeNew === true;
    // A guessed state is as unproven as a cached one: "nothing to do" on it is re-checked.
    const cached = hit !== undefined || guess;
    let entry = guess
      ? { state: spec.initial(), version: 0 }
      : (hit ?? (await loadAggregate(pool, spec, opts.streamId, opts.cache, opts.reader)));
    let { events, result } = opts.decide(entry.state);
    if (events.length === 0 && !opts.inbox && cached) {
      // "Nothing to do" decided on a cached state is never checked by an append:
      // the state may be behind the stream (another replica wrote it), so decide
      // once more from the stream itself.
      opts.cache?.delete(opts.streamId);
      entry = await loadAggregate(pool, spec, opts.streamId, opts.cache, opts.reader);
      ({ events, result } = opts.decide(entry.state));
    }
    try {
      const done = await commitStep(pool, spec, opts.streamId, entry, events, {
        metadata: opts.metadata,
        ...(opts.inbox ? { inbox: opts.inbox } : {}),
        ...(opts.cache ? { cache: opts.cache } : {}),
        ...(opts.batcher ? { batcher: opts.batcher } : {}),
      });
      return {
        status: done.duplicate ? 'duplicate' : 'applied',
        state: done.entry.state,
        version: done.entry.version,
        result,
        records: done.records,
      };
    } catch (err) {
      if (err instanceof ConcurrencyError && attempt < maxAttempts) {
        await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
        continue;
      }
      throw err;
    }
  }
}
