import type { Pool, PoolClient } from 'pg';
import type { JetStreamClient } from 'nats';
import type { Logger } from 'pino';
import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import type { KeelNames } from '@keel/contracts';
import { KeelAttr } from '@keel/telemetry';
import {
  checkpointAfter,
  loadCheckpoint,
  readAllJson,
  saveCheckpoint,
  START_CHECKPOINT,
  type Checkpoint,
  type StoredEventJson,
} from '@keel/event-store';
import { faultPoint, publishJson, traceparentSampled } from '@keel/messaging';
import { headersForEvent, relayedPayloadFromJson, subjectForEvent } from '@keel/runtime';

const tracer = trace.getTracer('keel-outbox');

export interface RelayOptions {
  readonly pool: Pool;
  readonly js: JetStreamClient;
  readonly names: KeelNames;
  readonly log: Logger;
  readonly schema: string;
  /** Events per read; one checkpoint write per batch. */
  readonly batchSize: number;
  /** Polling fallback when no NOTIFY arrives (NOTIFY is only a hint). */
  readonly pollIntervalMs: number;
  /**
   * After a wake-up, wait this long for more commits before reading, so one
   * read and one burst of publishes cover many events. Writers publish their
   * trigger events themselves (fast path), so the relay is off the latency
   * path and trades a little delay for far fewer queries and writes.
   */
  readonly coalesceMs: number;
  /**
   * How often the leader checks that JetStream still holds the last event it
   * relayed (NATS amnesia: a server that lost its store or its unsynced
   * tail). Also checked on every leadership start. 0 disables the check.
   */
  readonly amnesiaCheckMs?: number;
  /** Declares the streams again when the events stream is gone (omit when the relay may not). */
  readonly ensureTopology?: () => Promise<void>;
}

/**
 * The transactional outbox relay: tails the event log in commit order and
 * publishes every event to JetStream with `Nats-Msg-Id` = event id.
 *
 * Guarantees: every committed event is published at least once, in commit
 * order; a re-send (crash between the PubAck and the checkpoint write, a
 * restart, a NATS that forgot its tail) carries the same Msg-Id, so JetStream
 * drops it inside the duplicate window and consumers' inboxes beyond it.
 * One relay per schema is active at a time (a session advisory lock); other
 * replicas wait as hot standbys and take over when the leader's session ends.
 */
export class Relay {
  private stopping = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private leader: { client: PoolClient; release: () => void } | undefined;
  /** Set by NOTIFY; a notification that arrives mid-batch must not be lost. */
  private notified = false;
  /**
   * Whether the leader's session LISTENs. One notification is all the relay needs
   * to know a batch is due, so the first one UNLISTENs until the relay has caught
   * up: otherwise every commit anywhere wakes PostgreSQL's notifier and this
   * process while a batch is already coming (one wake-up per commit, not per batch).
   */
  private listening = false;
  /** When the leader last confirmed JetStream still holds what it relayed (0: not since leading). */
  private checkedAt = 0;
  /** When the events stream this process last saw was created: a new one means it was wiped. */
  private streamCreated: string | undefined;

  constructor(private readonly o: RelayOptions) {}

  get checkpointName(): string {
    return `relay:${this.o.names.streams.events}`;
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        if (!this.leader) await this.acquireLeadership();
        if (!this.leader) {
          await this.sleep(1000);
          continue;
        }
        const every = this.o.amnesiaCheckMs ?? 5000;
        if (every > 0 && Date.now() - this.checkedAt >= every) {
          // The check gates relaying: publishing on before it succeeds would move the
          // checkpoint past a loss it has not seen yet. A failure (NATS just back and slow)
          // drops leadership like a failed batch, and the next leader checks first.
          await this.detectAmnesia();
          this.checkedAt = Date.now();
        }
        if (this.o.coalesceMs > 0) await new Promise((r) => setTimeout(r, this.o.coalesceMs));
        this.notified = false;
        const published = await this.relayBatch();
        failures = 0;
        if (published >= this.o.batchSize) continue;
        // Caught up. If a notification turned listening off, turn it on and read once
        // more before sleeping: a commit between that read and LISTEN notified no one.
        if (await this.listenAgain()) continue;
        await this.sleep(this.o.pollIntervalMs);
      } catch (err) {
        failures++;
        const delay = Math.min(5000, 100 * 2 ** Math.min(failures, 6));
        this.o.log.warn({ err: (err as Error).message, retryInMs: delay }, 'relay batch failed');
        this.dropLeadership();
        await this.sleep(delay);
      }
    }
    this.dropLeadership();
  }

  /** Publish the next batch after the checkpoint; returns how many were published. */
  private async relayBatch(): Promise<number> {
    const { pool, names, batchSize } = this.o;
    const checkpoint: Checkpoint = await loadCheckpoint(pool, this.checkpointName);
    const batch = await readAllJson(pool, checkpoint, batchSize);
    if (batch.length === 0) return 0;
    // Streams are published concurrently, each stream's events one after the
    // other, so per-stream order holds even when a publish fails mid-batch
    // (its stream's chain stops there). A failure re-sends the batch from the
    // checkpoint; Msg-Id dedupe drops what was already stored.
    const chains = new Map<string, Promise<unknown>>();
    for (const e of batch) {
      const previous = chains.get(e.streamId) ?? Promise.resolve();
      chains.set(
        e.streamId,
        previous.then(() => this.publish(names, e)),
      );
    }
    await Promise.all(chains.values());
    // Test-only (off by default): die between the PubAcks and the checkpoint write.
    faultPoint('relay:after-publish', { lastPosition: batch.at(-1)!.globalPosition.toString() });
    await saveCheckpoint(pool, this.checkpointName, checkpointAfter(batch.at(-1)!));
    return batch.length;
  }

  private publish(names: KeelNames, e: StoredEventJson): Promise<unknown> {
    let data: unknown;
    const routable = {
      streamId: e.streamId,
      streamVersion: e.streamVersion,
      type: e.type,
      // Parsed only if routing reads it (ToolCallRequested's pool).
      get data(): unknown {
        return (data ??= JSON.parse(e.dataJson) as unknown);
      },
      metadata: { correlationId: e.correlationId ?? undefined, tenant: e.tenant ?? undefined },
    };
    const subject = subjectForEvent(names, routable);
    const headers = headersForEvent(routable);
    const send = () =>
      publishJson(this.o.js, subject, relayedPayloadFromJson(e), { msgId: e.eventId, headers });
    // An event whose trace was not sampled would only get a non-recording span (the
    // sampler is parent-based): skip it and forward the context as is, so consumers
    // stay in the same trace. In the root context publishJson injects nothing over it.
    if (e.traceparent && !traceparentSampled(e.traceparent)) {
      headers.traceparent = e.traceparent;
      if (e.tracestate) headers.tracestate = e.tracestate;
      return context.with(ROOT_CONTEXT, send);
    }
    const parent = propagation.extract(context.active(), {
      traceparent: e.traceparent ?? undefined,
      tracestate: e.tracestate ?? undefined,
    });
    return context.with(parent, () =>
      tracer.startActiveSpan(`publish ${e.type}`, { kind: SpanKind.PRODUCER }, async (span) => {
        span.setAttributes({
          'messaging.system': 'nats',
          'messaging.destination.name': subject,
          'messaging.message.id': e.eventId,
          [KeelAttr.runId]: String(routable.metadata.correlationId),
          [KeelAttr.eventType]: e.type,
        });
        try {
          return await send();
        } finally {
          span.end();
        }
      }),
    );
  }

  /**
   * NATS amnesia: JetStream acknowledged events the relay published, then
   * lost them (store deleted, unsynced tail lost in a crash). The checkpoint
   * is then ahead of what the stream holds and nothing would re-send the gap.
   * Check: the last relayed event (the checkpoint's) must still be on the
   * stream — the last message on its subject must be it or a later event.
   * If not, declare the streams again if they are gone, and rewind the
   * checkpoint to the start of the log: everything is re-published with the
   * same Nats-Msg-Id (JetStream drops what it still has within its duplicate
   * window, consumers' inboxes the rest).
   */
  private async detectAmnesia(): Promise<void> {
    const { pool, js, names, log } = this.o;
    const checkpoint = await loadCheckpoint(pool, this.checkpointName);
    if (checkpoint.globalPosition === '0') return; // nothing relayed yet
    const { rows } = await pool.query<{
      stream_id: string;
      stream_version: number;
      type: string;
      data: unknown;
      metadata: { correlationId?: unknown; tenant?: unknown };
      age_ms: string;
    }>(
      `SELECT stream_id, stream_version, type, data, metadata,
              (extract(epoch FROM now() - created_at) * 1000)::bigint::text AS age_ms
         FROM events WHERE global_position = $1::bigint`,
      [checkpoint.globalPosition],
    );
    const last = rows[0];
    if (!last) return;
    const lost = await (async (): Promise<string | undefined> => {
      const stream = await js.streams.get(names.streams.events).catch((err: unknown) => {
        if (/not found/i.test((err as Error).message)) return undefined;
        throw err;
      });
      if (!stream) return 'the events stream is gone';
      const info = await stream.info(true);
      // Re-created since the last check (its store wiped, then declared again by a service):
      // caught even when newer events already sit on the new stream.
      const seen = this.streamCreated;
      this.streamCreated = info.created;
      if (seen !== undefined && seen !== info.created) return 'the events stream was re-created';
      const maxAgeMs = info.config.max_age / 1e6;
      // Expired by the stream's max age, not lost: nothing to compare against.
      if (maxAgeMs > 0 && Number(last.age_ms) > maxAgeMs - 3_600_000) return undefined;
      const subject = subjectForEvent(names, {
        streamId: last.stream_id,
        streamVersion: last.stream_version,
        type: last.type,
        data: last.data,
        metadata: last.metadata,
      });
      const stored = await stream.getMessage({ last_by_subj: subject }).catch((err: unknown) => {
        if (/no message found|not found/i.test((err as Error).message)) return undefined;
        throw err;
      });
      if (!stored) return 'the last relayed event is not on the stream';
      const position = stored.json<{ globalPosition?: string }>().globalPosition ?? '0';
      return BigInt(position) < BigInt(checkpoint.globalPosition)
        ? 'the stream ends before the last relayed event'
        : undefined;
    })();
    if (!lost) return;
    log.warn(
      { checkpoint: checkpoint.globalPosition, cause: lost },
      'JetStream lost relayed events (amnesia); re-publishing the log from the start',
    );
    if (lost === 'the events stream is gone') await this.o.ensureTopology?.();
    await saveCheckpoint(pool, this.checkpointName, START_CHECKPOINT);
  }

  private async acquireLeadership(): Promise<void> {
    const client = await this.o.pool.connect();
    let released = false;
    // Destroy rather than return to the pool when leading: ending the session releases the lock.
    const release = (destroy: boolean) => {
      if (released) return;
      released = true;
      client.off('error', onError);
      client.release(destroy);
    };
    // Listen for errors at once: a checked-out client that loses its server
    // emits 'error', and an unheard 'error' would crash the process.
    const onError = (err: Error) => {
      this.o.log.warn({ err: err.message }, 'relay leader connection lost');
      if (this.leader?.client === client) this.leader = undefined;
      release(true);
      this.wake?.();
    };
    client.on('error', onError);
    try {
      const key = `keel-relay:${this.o.schema}`;
      const { rows } = await client.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_lock(hashtext($1)) AS ok',
        [key],
      );
      if (!rows[0]?.ok) {
        release(false);
        return;
      }
      client.on('notification', (n) => {
        if (n.payload !== this.o.schema) return;
        this.notified = true;
        if (this.listening && this.leader?.client === client) {
          this.listening = false;
          // Errors surface on the connection ('error' above) or on the next LISTEN.
          client.query('UNLISTEN keel_events').catch(() => undefined);
        }
        this.wake?.();
      });
      await client.query('LISTEN keel_events');
      this.listening = true;
      this.leader = { client, release: () => release(true) };
      this.checkedAt = 0; // a new leader checks for amnesia first
      this.o.log.info('relay is the leader');
    } catch (err) {
      release(true);
      throw err;
    }
  }

  /** LISTEN again if a notification turned it off; true when it did (the caller reads once more). */
  private async listenAgain(): Promise<boolean> {
    const client = this.leader?.client;
    if (this.listening || !client) return false;
    // Set first: a notification that arrives before LISTEN's reply must UNLISTEN again.
    this.listening = true;
    await client.query('LISTEN keel_events');
    return true;
  }

  private dropLeadership(): void {
    const leader = this.leader;
    this.leader = undefined;
    this.listening = false;
    leader?.release();
  }

  private sleep(ms: number): Promise<void> {
    if (this.notified || this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
