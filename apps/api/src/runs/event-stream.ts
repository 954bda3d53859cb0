import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { RecordedEvent } from '@keel/event-store';
import { FINAL_EVENT_TYPES } from '@keel/projections';
import { readRunEvents, type LogCursor } from '@keel/projections/store';
import { eventId, timelineEvent } from './run-views';

const PAGE = 500;
const HEARTBEAT_MS = 15_000;
const ID_RE = /^(\d{1,20}):(\d{1,20})$/;

/**
 * GET /runs/:id/events/stream — Server-Sent Events by polling the log.
 *
 * Replay and live are ONE loop over the same query: read the run's events
 * after the cursor, in commit order, below the snapshot's xmin (only events
 * no still-open transaction can precede), send them, advance the cursor.
 * There is no switch-over between two sources, so nothing is duplicated or
 * skipped; a late-committing transaction is waited for, not jumped over.
 * Each message's `id` is the cursor, so a client reconnecting with
 * `Last-Event-ID` resumes exactly after the last event it got.
 *
 * Every event is a default (`message`) event whose data is a TimelineEvent;
 * after the run's ending (RunCompleted/Failed/Degraded/Cancelled/TimedOut)
 * an `end` event follows and the stream closes. Open streams are closed on
 * shutdown (`close()`).
 */
export class EventStreams {
  private readonly open = new Set<ServerResponse>();
  constructor(
    private readonly pool: Pool,
    private readonly pollMs: number,
    private readonly log: Logger,
  ) {}

  async follow(req: IncomingMessage, res: ServerResponse, runId: string): Promise<void> {
    let cursor = cursorFrom(req.headers['last-event-id']);
    let closed = false;
    let wake: (() => void) | undefined;
    const onClose = () => {
      closed = true;
      wake?.();
    };
    res.on('close', onClose);
    this.open.add(res);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(': keel run events\n\n');
    let lastWrite = Date.now();
    try {
      while (!closed) {
        const page = await readRunEvents(this.pool, runId, {
          after: cursor,
          settledOnly: true,
          limit: PAGE,
        });
        for (const e of page) {
          await write(res, `id: ${eventId(e)}\ndata: ${JSON.stringify(timelineEvent(e))}\n\n`);
          cursor = { transactionId: e.transactionId, globalPosition: e.globalPosition.toString() };
          lastWrite = Date.now();
          if (isEnding(e)) {
            await write(res, `event: end\ndata: ${JSON.stringify({ runId, type: e.type })}\n\n`);
            return;
          }
          if (closed) return;
        }
        if (page.length === PAGE) continue;
        if (Date.now() - lastWrite >= HEARTBEAT_MS) {
          await write(res, ': heartbeat\n\n');
          lastWrite = Date.now();
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, this.pollMs).unref();
        });
      }
    } catch (err) {
      if (!closed) this.log.warn({ err, runId }, 'event stream failed');
    } finally {
      res.off('close', onClose);
      this.open.delete(res);
      res.end();
    }
  }

  /** Ends every open stream (shutdown): clients reconnect with Last-Event-ID. */
  close(): void {
    for (const res of this.open) res.destroy();
    this.open.clear();
  }
}

const isEnding = (e: RecordedEvent) =>
  e.streamId.startsWith('run:') && FINAL_EVENT_TYPES.has(e.type);

function cursorFrom(header: string | string[] | undefined): LogCursor {
  const m = typeof header === 'string' ? ID_RE.exec(header) : null;
  return m
    ? { transactionId: m[1]!, globalPosition: m[2]! }
    : { transactionId: '0', globalPosition: '0' };
}

/** Write, waiting for the socket to drain when the client reads slowly. */
function write(res: ServerResponse, chunk: string): Promise<void> {
  if (res.write(chunk)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}
