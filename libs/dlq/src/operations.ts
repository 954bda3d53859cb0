import { headers as natsHeaders, NatsError, type JetStreamClient } from 'nats';
import type { Pool } from 'pg';
import { KeelHeaders } from '@keel/contracts';
import { withTransaction } from '@keel/event-store';
import type { DlqEntry, DlqEntrySummary } from './entry';
import { DlqError, DlqErrorCode } from './errors';
import { describePayload, type DescribedPayload } from './payload';
import { assertId, getDlqEntry, listDlqEntries, query, type ListFilter } from './store';

/**
 * What an operator does with the dead-letter queue (`keel dlq`). The CLI talks
 * to PostgreSQL (and, to redrive, to NATS) directly; these functions hold the
 * rules so that any other front end applies the same ones.
 */

/** Header on a redriven message naming the entry it came from (`<id>:<n>`). */
export const REDRIVE_HEADER = 'Keel-Redrive';

export function listEntries(pool: Pool, filter: ListFilter = {}): Promise<DlqEntrySummary[]> {
  return listDlqEntries(pool, filter);
}

export interface ShownEntry extends Omit<DlqEntry, 'payload'> {
  readonly payload: DescribedPayload | null;
}

/** One entry with everything, its payload decoded as JSON or UTF-8 when it is either. */
export async function showEntry(pool: Pool, id: number): Promise<ShownEntry> {
  const entry = await getDlqEntry(pool, id);
  if (!entry) throw notFound(id);
  return { ...entry, payload: entry.payload === null ? null : describePayload(entry.payload) };
}

export interface RedriveOptions {
  /** Who redrives (recorded as `resolved_by`). */
  readonly by: string;
  readonly note?: string;
  /** How long to wait for the PubAck. Default 5 s. */
  readonly timeoutMs?: number;
}

export interface RedriveResult {
  readonly id: number;
  /** This entry's redrives so far, this one included. */
  readonly redriveCount: number;
  readonly subject: string;
  readonly stream: string;
  /** Sequence of the redriven copy in `stream`. */
  readonly seq: number;
  readonly msgId: string;
  /** JetStream already held a message with this id (a repeated redrive within its window). */
  readonly duplicate: boolean;
}

/**
 * Publishes the original message again — to its original subject, with its
 * original headers (trace context included) — and marks the entry
 * `redriven`. The copy gets a new `Nats-Msg-Id`, `redrive:<id>:<n>`: the
 * original id may still be inside the stream's duplicate window, where
 * JetStream would drop the copy. Two operators redriving the same entry at
 * once both compute the same `n` (the row is locked while publishing) and
 * JetStream keeps one copy.
 *
 * The consumer handles the copy like any delivery: it decides from the
 * recorded state (inbox rows, expected versions, run ids derived from request
 * ids), so a step that already happened is not repeated and the work resumes
 * where it failed. A copy on a stream with several consumers of that subject
 * reaches all of them (each is idempotent).
 *
 * Refused: an unknown entry, a discarded one, one without a payload or
 * without an original subject (an unreadable entry). If the publish fails,
 * nothing is marked.
 */
export async function redriveEntry(
  deps: { pool: Pool; js: JetStreamClient },
  id: number,
  opts: RedriveOptions,
): Promise<RedriveResult> {
  assertId(id);
  return withTransaction(
    deps.pool,
    async (c) => {
      const entry = await getDlqEntry(c, id, { forUpdate: true });
      if (!entry) throw notFound(id);
      if (entry.status === 'discarded') {
        throw new DlqError(
          DlqErrorCode.REFUSED,
          entry.duplicateOf !== null
            ? `entry #${id} is a discarded duplicate of #${entry.duplicateOf}; redrive #${entry.duplicateOf} instead`
            : `entry #${id} is discarded and cannot be redriven`,
        );
      }
      if (entry.subject === null || entry.stream === null) {
        throw new DlqError(
          DlqErrorCode.REFUSED,
          `entry #${id} (${entry.code}) has no original subject to redrive to`,
        );
      }
      if (entry.payload === null) {
        throw new DlqError(
          DlqErrorCode.REFUSED,
          `entry #${id} has no payload: the original message could not be read from ${entry.stream}`,
        );
      }
      const n = entry.redriveCount + 1;
      const msgId = `redrive:${id}:${n}`;
      const h = natsHeaders();
      for (const [k, v] of Object.entries(entry.headers)) {
        if (!DROPPED_HEADER.test(k)) h.set(k, v);
      }
      h.set(KeelHeaders.msgId, msgId);
      h.set(REDRIVE_HEADER, `${id}:${n}`);
      let ack: { stream: string; seq: number; duplicate: boolean };
      try {
        ack = await deps.js.publish(entry.subject, entry.payload, {
          msgID: msgId,
          headers: h,
          expect: { streamName: entry.stream },
          timeout: opts.timeoutMs ?? 5_000,
        });
      } catch (err) {
        throw new DlqError(
          DlqErrorCode.PUBLISH_FAILED,
          `redrive of #${id} to '${entry.subject}' failed: ${publishFailure(err)}; nothing was marked`,
          { cause: err },
        );
      }
      await c.query(
        `UPDATE dead_letters
            SET status = 'redriven', redrive_count = $2, resolved_at = now(), resolved_by = $3,
                resolution_note = $4
          WHERE id = $1`,
        [id, n, opts.by, opts.note ?? `redriven as ${msgId} (${ack.stream} seq ${ack.seq})`],
      );
      return {
        id,
        redriveCount: n,
        subject: entry.subject,
        stream: ack.stream,
        seq: ack.seq,
        msgId,
        duplicate: ack.duplicate,
      };
    },
    { retries: 0 },
  );
}

export interface DiscardOptions {
  readonly by: string;
  /** Why the message is given up on (required). */
  readonly reason: string;
}

/** Marks an entry discarded with the reason. Refused for an entry already discarded. */
export async function discardEntry(
  pool: Pool,
  id: number,
  opts: DiscardOptions,
): Promise<DlqEntrySummary> {
  assertId(id);
  const reason = opts.reason.trim();
  if (reason === '') {
    throw new DlqError(DlqErrorCode.INVALID_ARGUMENT, 'a reason is required to discard an entry');
  }
  const { rows } = await query<{ status: string }>(
    pool,
    `UPDATE dead_letters
        SET status = 'discarded', resolved_at = now(), resolved_by = $2, resolution_note = $3
      WHERE id = $1 AND status <> 'discarded'
      RETURNING status`,
    [id, opts.by, reason],
  );
  if (rows.length === 0) {
    const entry = await getDlqEntry(pool, id);
    if (!entry) throw notFound(id);
    throw new DlqError(
      DlqErrorCode.REFUSED,
      `entry #${id} is already discarded (${entry.resolutionNote ?? 'no note'})`,
    );
  }
  const entry = await getDlqEntry(pool, id);
  if (!entry) throw notFound(id);
  const { payload: _payload, ...summary } = entry;
  return summary;
}

/**
 * Headers not carried over to a redriven copy: its new `Nats-Msg-Id` replaces
 * the old one, and the original publisher's JetStream expectations (expected
 * stream sequence, rollups, TTLs) described the stream as it was then.
 */
const DROPPED_HEADER = /^(Nats-Msg-Id|Nats-Expected-.*|Nats-Rollup|Nats-TTL|Keel-Redrive)$/i;

const notFound = (id: number) => new DlqError(DlqErrorCode.NOT_FOUND, `entry #${id} not found`);

function publishFailure(err: unknown): string {
  if (err instanceof NatsError) {
    if (err.code === '503') return 'no stream captures the subject';
    const api = err.jsError();
    if (api) return api.description;
  }
  return err instanceof Error ? err.message : String(err);
}
