import {
  AckPolicy,
  DeliverPolicy,
  nanos,
  NatsError,
  type JetStreamManager,
  type NatsConnection,
} from 'nats';
import { KeelHeaders } from '@keel/contracts';
import { rawHeaderValue } from '@keel/messaging';
import { pullNoWait } from './pull-no-wait';

export interface HeldOnStreamOptions {
  readonly nc: NatsConnection;
  /** The connection's reply prefix, for the pull requests' inboxes. */
  readonly inboxPrefix?: string | undefined;
  readonly jsm: JetStreamManager;
  /** The events stream (every message on it is an event: no filter). */
  readonly stream: string;
  /** The consumer's name (the outbox user may create, read and delete only this one). */
  readonly consumer: string;
  /** On open, also learn what the stream received this long before (a new leader's view). */
  readonly lookbackMs: number;
  /** Forget an id not matched by the log within this long (the relay's own re-sends, mostly). */
  readonly forgetAfterMs: number;
}

const FETCH_BATCH = 10_000;
const FETCH_TIMEOUT_MS = 5_000;

/**
 * What JetStream already holds of the event log, so the relay re-sends only
 * what it does not: a headers-only, no-ack consumer on the events stream, read
 * in batches when the relay polls (`no_wait`: one request, no waiting), whose
 * messages' `Nats-Msg-Id`s (event ids) are kept until the relay matches them.
 *
 * Delivered by JetStream means stored by JetStream, which a plain publish does
 * not tell its sender. An id seen here is never a loss: at worst (forgotten,
 * or the consumer re-created by a new leader) the relay re-sends an event the
 * stream holds, and JetStream or the consumers' inboxes drop the copy.
 */
export class HeldOnStream {
  /** Event id → when it was seen (ms); a Map keeps insertion order, oldest first. */
  private readonly ids = new Map<string, number>();

  constructor(private readonly o: HeldOnStreamOptions) {}

  /** (Re-)creates the consumer from `lookbackMs` ago: a new leader starts with a fresh view. */
  async open(now = Date.now()): Promise<void> {
    const { jsm, stream, consumer } = this.o;
    this.ids.clear();
    await jsm.consumers.delete(stream, consumer).catch((err: unknown) => {
      if (!(err instanceof NatsError && /not found/i.test(err.message))) throw err;
    });
    await jsm.consumers.add(stream, {
      name: consumer,
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(now - this.o.lookbackMs).toISOString(),
      headers_only: true,
      // Gone by itself if its leader dies; a new leader re-creates it anyway.
      inactive_threshold: nanos(60_000),
      mem_storage: true,
    });
  }

  /** Reads everything the stream received since the last refresh (several batches if need be). */
  async refresh(now = Date.now()): Promise<number> {
    let total = 0;
    for (;;) {
      const got = await pullNoWait(
        this.o.nc,
        {
          stream: this.o.stream,
          consumer: this.o.consumer,
          batch: FETCH_BATCH,
          timeoutMs: FETCH_TIMEOUT_MS,
          inboxPrefix: this.o.inboxPrefix,
        },
        (m) => {
          // One header of the event's many: read raw, not decoded with the rest.
          const id = rawHeaderValue(m, KeelHeaders.msgId);
          if (id) this.ids.set(id, now);
        },
      );
      total += got;
      if (got < FETCH_BATCH) break;
    }
    this.forget(now);
    return total;
  }

  /** Whether the stream holds this event (`take` it once the relay has settled it). */
  holds(eventId: string): boolean {
    return this.ids.has(eventId);
  }

  /** True (once) if the stream holds this event. */
  take(eventId: string): boolean {
    return this.ids.delete(eventId);
  }

  private forget(now: number): void {
    for (const [id, at] of this.ids) {
      if (now - at < this.o.forgetAfterMs) break;
      this.ids.delete(id);
    }
  }
}
