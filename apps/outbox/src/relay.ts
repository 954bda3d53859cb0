import type { Pool, PoolClient } from 'pg';
import { Events, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import type { KeelNames } from '@keel/contracts';
import {
  checkpointAfter,
  checkpointAgedBefore,
  loadCheckpoint,
  readAllIds,
  readAtPositionsJson,
  saveCheckpoint,
  START_CHECKPOINT,
  type Checkpoint,
  type StoredEventJson,
} from '@keel/event-store';
import { faultPoint, publishJson } from '@keel/messaging';
import {
  headersForEvent,
  relayedPayloadFromJson,
  startPublishSpan,
  subjectForEvent,
} from '@keel/runtime';
import { HeldOnStream } from './held-on-stream';

export interface RelayOptions {
  readonly pool: Pool;
  /** Pulls what the stream holds; its status tells the relay when the server may have restarted (see `reverify`). */
  readonly nc: NatsConnection;
  /** The connection's reply prefix (`KEEL_NATS_INBOX_PREFIX`): the relay's pull requests reply there. */
  readonly inboxPrefix?: string | undefined;
  readonly js: JetStreamClient;
  readonly names: KeelNames;
  readonly log: Logger;
  readonly schema: string;
  /** Events per read; one checkpoint write per batch. */
  readonly batchSize: number;
  readonly jsm: JetStreamManager;
  /** How often the leader reads the log (and what JetStream received since). */
  readonly pollIntervalMs: number;
  /**
   * How long an event may stay off the stream before the relay sends it. Its
   * writer publishes it right after the commit (the fast path); this is the
   * time that publish has to arrive, and the longest a lost one waits.
   */
  readonly graceMs: number;
  /**
   * How often the leader checks that JetStream still holds the last event it
   * relayed (NATS amnesia: a server that lost its store or its unsynced
   * tail). Also checked on every leadership start. 0 disables the check.
   */
  readonly amnesiaCheckMs?: number;
  /** Declares the streams again when the events stream is gone (omit when the relay may not). */
  readonly ensureTopology?: () => Promise<void>;
}

/** A new leader also learns what the stream received this long before it took over. */
const HELD_LOOKBACK_MS = 60_000;
/**
 * After NATS drops the connection, the events settled in this long before are checked
 * again: a killed nats-server loses the messages it had not yet written out, and the
 * relay may have seen them on the stream just before.
 */
const REVERIFY_MS = 30_000;
/** Ids on the stream that the log did not match within this long are forgotten (re-sends, mostly). */
const HELD_FORGET_MS = 5 * 60_000;

/**
 * The transactional outbox relay: tails the event log in commit order and
 * makes sure JetStream holds every event, with `Nats-Msg-Id` = event id.
 *
 * Every writer publishes each event right after its commit (the fast path),
 * so the relay is the recovery path, not the delivery path: it learns what the
 * stream received (`HeldOnStream`) and sends only the events still missing
 * `graceMs` after it first read them (a writer that died between commit and
 * publish, a publish lost with its connection, a writer without the fast path).
 *
 * Guarantees: every committed event reaches the stream at least once; the
 * relay's own sends keep commit order per stream. A re-send (crash between
 * the sends and the checkpoint write, a restart, a NATS that forgot its tail)
 * carries the same Msg-Id, so JetStream drops it inside the duplicate window
 * and consumers' inboxes beyond it. One relay per schema is active at a time
 * (a session advisory lock); other replicas wait as hot standbys and take
 * over when the leader's session ends.
 */
/** Whether `a` comes before `b` in commit order. */
function isBefore(a: Checkpoint, b: Checkpoint): boolean {
  const [ta, tb] = [BigInt(a.transactionId), BigInt(b.transactionId)];
  return ta !== tb ? ta < tb : BigInt(a.globalPosition) < BigInt(b.globalPosition);
}

export class Relay {
  private stopping = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private leader: { client: PoolClient; release: () => void } | undefined;
  /** What the stream holds; opened (re-created) by each new leader. */
  private readonly held: HeldOnStream;
  private heldOpen = false;
  /** The leader's checkpoint (only the leader writes it), loaded when it starts leading. */
  private checkpoint: Checkpoint | undefined;
  /** Events read but neither on the stream nor past their grace yet: when first read. */
  private readonly missingSince = new Map<string, number>();
  /** Events sent by this relay, and events found on the stream already (not sent). */
  readonly counts = { sent: 0, alreadyHeld: 0 };
  /** The leader's checkpoints with when it reached them, oldest first (the last REVERIFY_MS and one before). */
  private readonly history: { at: number; checkpoint: Checkpoint }[] = [];
  /** When the NATS connection last dropped, until the relay has re-checked (0: not since). */
  private interruptedAt = 0;
  /** When the leader last confirmed JetStream still holds what it relayed (0: not since leading). */
  private checkedAt = 0;
  /** When the events stream this process last saw was created: a new one means it was wiped. */
  private streamCreated: string | undefined;

  constructor(private readonly o: RelayOptions) {
    this.held = new HeldOnStream({
      nc: o.nc,
      inboxPrefix: o.inboxPrefix,
      jsm: o.jsm,
      stream: o.names.streams.events,
      consumer: o.names.consumers.relayHeld,
      lookbackMs: HELD_LOOKBACK_MS,
      forgetAfterMs: HELD_FORGET_MS,
    });
  }

  get checkpointName(): string {
    return `relay:${this.o.names.streams.events}`;
  }

  start(): void {
    this.watchConnection().catch((err: unknown) =>
      this.o.log.warn(
        { err: (err as Error).message },
        'relay stopped watching the NATS connection',
      ),
    );
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
        // A dropped connection may hide a restarted server: check for amnesia first (a
        // wiped stream), then go back over what was settled just before (a lost tail).
        const interrupted = this.interruptedAt > 0;
        const every = this.o.amnesiaCheckMs ?? 5000;
        if (every > 0 && (interrupted || Date.now() - this.checkedAt >= every)) {
          // The check gates relaying: publishing on before it succeeds would move the
          // checkpoint past a loss it has not seen yet. A failure (NATS just back and slow)
          // drops leadership like a failed batch, and the next leader checks first.
          await this.detectAmnesia();
          this.checkedAt = Date.now();
        }
        if (interrupted) await this.reverify();
        // After the check, which may declare a wiped stream again.
        if (!this.heldOpen) {
          await this.held.open();
          this.heldOpen = true;
        }
        const done = await this.relayBatch();
        failures = 0;
        if (done >= this.o.batchSize) continue;
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

  /**
   * Settles the next events after the checkpoint, in commit order: each is on
   * the stream already, or past its grace (then sent), or the batch stops
   * there until the next poll. Returns how many were settled.
   */
  private async relayBatch(): Promise<number> {
    const { pool, names, batchSize, graceMs } = this.o;
    const now = Date.now();
    // First what the stream received, then the log: an event committed and published
    // in between looks missing this time, and is found on the stream by the next poll.
    await this.held.refresh(now);
    if (!this.checkpoint) {
      const saved = await loadCheckpoint(pool, this.checkpointName);
      // A leader with no history of its own (a new process) cannot know whether the
      // stream lost what an earlier one settled just before it died (NATS killed
      // with it): it checks the last REVERIFY_MS of the log again.
      this.checkpoint =
        this.history.length === 0 ? await checkpointAgedBefore(pool, saved, REVERIFY_MS) : saved;
      this.remember(this.checkpoint);
    }
    // Ids first: most events are on the stream already, and need no row read.
    const batch = await readAllIds(pool, this.checkpoint, batchSize);
    const missing: bigint[] = [];
    let settled = 0;
    let waiting = false;
    for (const e of batch) {
      if (waiting) {
        // Behind an event still in its grace: start these events' grace too, so
        // missing events wait for their grace together, not one after another.
        if (!this.held.holds(e.eventId) && !this.missingSince.has(e.eventId))
          this.missingSince.set(e.eventId, now);
        continue;
      }
      if (this.held.take(e.eventId)) {
        this.missingSince.delete(e.eventId);
        settled++;
        continue;
      }
      const since = this.missingSince.get(e.eventId) ?? now;
      if (now - since < graceMs) {
        // The fast path may still deliver it; the checkpoint stops here until then.
        this.missingSince.set(e.eventId, since);
        waiting = true;
        continue;
      }
      this.missingSince.delete(e.eventId);
      missing.push(e.globalPosition);
      settled++;
    }
    // Streams are sent concurrently, each stream's events one after the other, so
    // per-stream order holds even when a send fails mid-batch (its stream's chain
    // stops there). A failure re-sends from the checkpoint; Msg-Id dedupe drops
    // what was already stored.
    const chains = new Map<string, Promise<unknown>>();
    const rows = await readAtPositionsJson(pool, missing);
    // The log is append-only: a row read a moment ago cannot be gone.
    if (rows.length !== missing.length)
      throw new Error(`read ${rows.length} of the ${missing.length} events to send`);
    for (const e of rows) {
      const previous = chains.get(e.streamId) ?? Promise.resolve();
      chains.set(
        e.streamId,
        previous.then(() => this.publish(names, e)),
      );
    }
    await Promise.all(chains.values());
    if (settled === 0) return 0;
    // Test-only (off by default): die between settling a batch (its sends acknowledged) and the checkpoint write.
    faultPoint('relay:after-publish', {
      lastPosition: batch[settled - 1]!.globalPosition.toString(),
    });
    const next = checkpointAfter(batch[settled - 1]!);
    await saveCheckpoint(pool, this.checkpointName, next);
    this.checkpoint = next;
    this.remember(next);
    if (missing.length > 0) {
      // Normally none: each is an event whose writer's publish did not reach the stream.
      this.o.log.info(
        { sent: missing.length, firstPosition: missing[0]!.toString() },
        'relay sent events missing from the stream',
      );
    }
    this.counts.sent += missing.length;
    this.counts.alreadyHeld += settled - missing.length;
    return settled;
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
    const traced = startPublishSpan(
      {
        type: e.type,
        eventId: e.eventId,
        runId: String(routable.metadata.correlationId),
        traceparent: e.traceparent,
        tracestate: e.tracestate,
      },
      subject,
    );
    if (!traced) {
      // Not sampled: forward the stored context as is, so consumers stay in the same
      // trace. In the root context publishJson injects nothing over it.
      if (e.traceparent) headers.traceparent = e.traceparent;
      if (e.tracestate) headers.tracestate = e.tracestate;
    }
    const payload = relayedPayloadFromJson(e);
    return context
      .with(traced?.context ?? ROOT_CONTEXT, () =>
        publishJson(this.o.js, subject, payload, { msgId: e.eventId, headers }),
      )
      .finally(() => traced?.span.end());
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
    this.checkpoint = START_CHECKPOINT;
    this.history.length = 0;
    this.remember(START_CHECKPOINT);
  }

  /**
   * A nats-server killed with messages not yet written out comes back without
   * them, and the relay may have settled some as "on the stream" just before.
   * The amnesia check catches a lost checkpoint event only; here the relay goes
   * back to where it was REVERIFY_MS before the connection dropped and checks
   * those events again against a fresh view of the stream (whose lookback
   * covers them), sending what is gone. Saved, so a crash does not skip it.
   */
  private async reverify(): Promise<void> {
    const interruptedAt = this.interruptedAt;
    const since = interruptedAt - REVERIFY_MS;
    const back = [...this.history].reverse().find((h) => h.at <= since) ?? this.history[0];
    const current = this.checkpoint ?? (await loadCheckpoint(this.o.pool, this.checkpointName));
    if (back && isBefore(back.checkpoint, current)) {
      await saveCheckpoint(this.o.pool, this.checkpointName, back.checkpoint);
      this.checkpoint = back.checkpoint;
      this.history.length = 0;
      this.remember(back.checkpoint);
      this.o.log.info(
        { from: back.checkpoint.globalPosition },
        'NATS connection dropped; re-checking recently settled events against the stream',
      );
    }
    this.heldOpen = false;
    this.missingSince.clear();
    // A drop during this one is handled by the next call.
    if (this.interruptedAt === interruptedAt) this.interruptedAt = 0;
  }

  private remember(checkpoint: Checkpoint, now = Date.now()): void {
    this.history.push({ at: now, checkpoint });
    // Keep one entry older than the window: the point to go back to.
    while (this.history.length > 1 && this.history[1]!.at <= now - REVERIFY_MS)
      this.history.shift();
  }

  private async watchConnection(): Promise<void> {
    for await (const s of this.o.nc.status()) {
      if (s.type === Events.Disconnect) this.interruptedAt = Date.now();
    }
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
      this.leader = { client, release: () => release(true) };
      // Checkpoints from an earlier, long-gone leadership are no place to go back to.
      const last = this.history.at(-1);
      if (last && Date.now() - last.at > 2 * REVERIFY_MS) this.history.length = 0;
      this.checkedAt = 0; // a new leader checks for amnesia first
      this.o.log.info('relay is the leader');
    } catch (err) {
      release(true);
      throw err;
    }
  }

  private dropLeadership(): void {
    const leader = this.leader;
    this.leader = undefined;
    this.heldOpen = false;
    this.checkpoint = undefined;
    this.missingSince.clear();
    // `history` stays: a batch that failed because NATS went away still needs `reverify`.
    leader?.release();
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
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
