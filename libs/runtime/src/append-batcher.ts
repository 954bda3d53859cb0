import type { Pool } from 'pg';
import { appendMany, appendToStream, type AppendItem, type AppendResult } from '@keel/event-store';

interface Pending {
  readonly item: AppendItem;
  readonly resolve: (r: AppendResult) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * Group commit across streams: appends requested in the same turn of the
 * event loop (handlers of messages that arrived together) go to PostgreSQL as
 * ONE statement — one round trip and one commit instead of one each. Each
 * append keeps its own expected-version check and its own outcome. Two
 * appends to one stream never share a batch (the second waits for the next).
 * If the batch statement fails as a whole (two writers raced on a stream),
 * its appends are retried one by one, so each gets its own exact outcome.
 */
export class AppendBatcher {
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly pool: Pool,
    private readonly maxBatch = 256,
  ) {}

  append(item: AppendItem): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    const streams = new Set<string>();
    for (const p of this.queue) {
      if (batch.length < this.maxBatch && !streams.has(p.item.streamId)) {
        streams.add(p.item.streamId);
        batch.push(p);
      } else {
        rest.push(p);
      }
    }
    this.queue = rest;
    this.schedule();
    if (batch.length === 1) return settleOne(this.pool, batch[0]!);
    try {
      const results = await appendMany(
        this.pool,
        batch.map((p) => p.item),
      );
      results.forEach((r, i) => (r instanceof Error ? batch[i]!.reject(r) : batch[i]!.resolve(r)));
    } catch {
      await Promise.all(batch.map((p) => settleOne(this.pool, p)));
    }
  }
}

async function settleOne(pool: Pool, p: Pending): Promise<void> {
  try {
    const { streamId, expectedVersion, events, inbox } = p.item;
    p.resolve(
      await appendToStream(pool, streamId, expectedVersion, events, inbox ? { inbox } : {}),
    );
  } catch (err) {
    p.reject(err);
  }
}
