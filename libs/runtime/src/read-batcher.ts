import type { Pool } from 'pg';
import {
  readStream,
  readStreams,
  type RecordedEvent,
  type StreamRead,
  type VersionRange,
} from '@keel/event-store';
import { TurnBatch } from './turn-batch';

type Outcome = { readonly events: RecordedEvent[] } | { readonly error: unknown };

/**
 * Stream reads asked for in the same event-loop turn (handlers of messages
 * that arrived together: a run's first step, a tool call's capability check)
 * go to PostgreSQL as ONE statement (`readStreams`) instead of one round trip
 * each; a lone read is a plain `readStream`. Each caller gets exactly what
 * `readStream` would have given it: if the batch statement fails (an event one
 * stream holds cannot be read, say), its reads are repeated one by one, so
 * one stream's error never reaches another stream's reader.
 */
export class ReadBatcher {
  private readonly batch: TurnBatch<StreamRead, Outcome>;

  constructor(pool: Pool, maxBatch = 256) {
    const one = (r: StreamRead): Promise<Outcome> =>
      readStream(pool, r.streamId, r).then(
        (events) => ({ events }),
        (error: unknown) => ({ error }),
      );
    this.batch = new TurnBatch(async (reads) => {
      if (reads.length === 1) return [await one(reads[0]!)];
      try {
        return (await readStreams(pool, reads)).map((events) => ({ events }));
      } catch {
        return Promise.all(reads.map(one));
      }
    }, maxBatch);
  }

  /** The stream's events in version order, as `readStream(pool, streamId, range)`. */
  async read(streamId: string, range: VersionRange = {}): Promise<RecordedEvent[]> {
    const outcome = await this.batch.add({ streamId, ...range });
    if ('error' in outcome) throw outcome.error;
    return outcome.events;
  }
}
