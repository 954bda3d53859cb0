import type { Pool } from 'pg';
import { pgErrorFields, withTransaction, type Queryable } from '@keel/event-store';
import {
  INGEST_ACTOR,
  type DlqEntry,
  type DlqEntrySummary,
  type DlqKind,
  type DlqStatus,
  type NewDlqEntry,
} from './entry';
import { DlqError, DlqErrorCode } from './errors';

/**
 * All SQL on `dead_letters`. Every function runs unqualified SQL on a pool
 * (or client) pinned to the deployment's schema.
 */

export interface RecordResult {
  /** The row of this DLQ stream sequence (new, or recorded by an earlier delivery). */
  readonly id: number;
  /** False when the sequence was already ingested (a redelivery): nothing changed. */
  readonly inserted: boolean;
  /** The entry this one was recorded as a duplicate of (and discarded). */
  readonly duplicateOf: number | null;
  /** Entries this one replaced as the record of the failure (advisories that came first). */
  readonly superseded: readonly number[];
}

/**
 * Two records of one failure are at most this far apart in failure time (a
 * consumer publishes its dead letter, then terms: milliseconds; a lost term
 * is redelivered within the ack wait). Farther apart, the same (stream,
 * consumer, sequence) is a different failure — e.g. of a recreated stream.
 */
const SAME_FAILURE_WINDOW = '1 hour';

/**
 * Records one DLQ entry, once per DLQ stream sequence.
 *
 * One failed message can reach the DLQ twice: a consumer publishes its dead
 * letter and then terms the message, which makes JetStream publish a
 * TERMINATED advisory too. So entries of the same (stream, consumer, stream
 * sequence) are recognised: the dead letter (it has the reason) is the
 * record, the other entry is stored as `discarded` with `duplicate of #<id>`,
 * whatever order they are ingested in (an open advisory ingested first is
 * superseded when its dead letter arrives). A transaction-scoped advisory
 * lock per origin serialises replicas ingesting both at once.
 */
export function recordDlqEntry(pool: Pool, e: NewDlqEntry): Promise<RecordResult> {
  return withTransaction(pool, async (c) => {
    const origin = e.stream !== null && e.streamSeq !== null;
    if (origin) {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
        `keel-dlq:${e.stream}/${e.consumer}/${e.streamSeq}`,
      ]);
    }
    const seen = await c.query<{ id: string }>(
      'SELECT id FROM dead_letters WHERE dlq_stream_seq = $1',
      [e.dlqStreamSeq],
    );
    if (seen.rows[0]) {
      return { id: Number(seen.rows[0].id), inserted: false, duplicateOf: null, superseded: [] };
    }

    let duplicateOf: number | null = null;
    let superseded: number[] = [];
    if (origin) {
      const { rows } = await c.query<{ id: string; kind: DlqKind; status: DlqStatus }>(
        `SELECT id, kind, status FROM dead_letters
          WHERE stream = $1 AND consumer = $2 AND stream_seq = $3 AND duplicate_of IS NULL
            AND dead_lettered_at BETWEEN $4::timestamptz - $5::interval
                                     AND $4::timestamptz + $5::interval
          ORDER BY id`,
        [e.stream, e.consumer, e.streamSeq, e.deadLetteredAt, SAME_FAILURE_WINDOW],
      );
      const others = rows.map((r) => ({ id: Number(r.id), kind: r.kind, status: r.status }));
      const primary = others.find((o) => o.kind === 'dead_letter') ?? others[0];
      if (primary) {
        const takeOver =
          e.kind === 'dead_letter' &&
          others.every((o) => o.kind !== 'dead_letter' && o.status === 'open');
        if (takeOver) superseded = others.map((o) => o.id);
        else duplicateOf = primary.id;
      }
    }

    const inserted = await c.query<{ id: string }>(
      `INSERT INTO dead_letters
         (dlq_stream_seq, kind, consumer, stream, subject, stream_seq, deliveries, code, reason,
          run_id, trace_id, payload, headers, dead_lettered_at,
          status, resolved_at, resolved_by, resolution_note, duplicate_of)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
               CASE WHEN $15::bigint IS NULL THEN 'open' ELSE 'discarded' END,
               CASE WHEN $15::bigint IS NULL THEN NULL ELSE now() END,
               CASE WHEN $15::bigint IS NULL THEN NULL ELSE $16 END,
               CASE WHEN $15::bigint IS NULL THEN NULL ELSE 'duplicate of #' || $15::bigint END,
               $15::bigint)
       ON CONFLICT (dlq_stream_seq) DO NOTHING
       RETURNING id`,
      [
        e.dlqStreamSeq,
        e.kind,
        e.consumer,
        e.stream,
        e.subject,
        e.streamSeq,
        e.deliveries,
        e.code,
        e.reason,
        e.runId,
        e.traceId,
        e.payload === null ? null : Buffer.from(e.payload),
        JSON.stringify(e.headers),
        e.deadLetteredAt,
        duplicateOf,
        INGEST_ACTOR,
      ],
    );
    const row = inserted.rows[0];
    if (!row) {
      // Another replica inserted this sequence meanwhile (no origin lock for unreadable entries).
      const again = await c.query<{ id: string }>(
        'SELECT id FROM dead_letters WHERE dlq_stream_seq = $1',
        [e.dlqStreamSeq],
      );
      return { id: Number(again.rows[0]?.id), inserted: false, duplicateOf: null, superseded: [] };
    }
    const id = Number(row.id);
    if (superseded.length > 0) {
      await c.query(
        `UPDATE dead_letters
            SET status = 'discarded', duplicate_of = $1, resolved_at = now(), resolved_by = $3,
                resolution_note = 'duplicate of #' || $1::bigint
          WHERE id = ANY($2::bigint[]) OR duplicate_of = ANY($2::bigint[])`,
        [id, superseded, INGEST_ACTOR],
      );
    }
    return { id, inserted: true, duplicateOf, superseded };
  });
}

export interface ListFilter {
  /** Default `open`; `all` for every status. */
  readonly status?: DlqStatus | 'all';
  readonly code?: string;
  readonly runId?: string;
  readonly consumer?: string;
  /** Default 50, at most 1000. */
  readonly limit?: number;
}

const SUMMARY_COLUMNS = `id, dlq_stream_seq, kind, consumer, stream, subject, stream_seq, deliveries,
  code, reason, run_id, trace_id, octet_length(payload) AS payload_bytes, headers,
  dead_lettered_at, ingested_at, status, resolved_at, resolved_by, resolution_note,
  redrive_count, duplicate_of`;

/** Entries matching `filter`, newest first. */
export async function listDlqEntries(
  db: Queryable,
  filter: ListFilter = {},
): Promise<DlqEntrySummary[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  const add = (sql: string, value: unknown) => {
    values.push(value);
    where.push(sql.replace('?', `$${values.length}`));
  };
  const status = filter.status ?? 'open';
  if (status !== 'all') add('status = ?', status);
  if (filter.code !== undefined) add('code = ?', filter.code);
  if (filter.runId !== undefined) add('run_id = ?', filter.runId);
  if (filter.consumer !== undefined) add('consumer = ?', filter.consumer);
  const limit = filter.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new DlqError(
      DlqErrorCode.INVALID_ARGUMENT,
      `limit must be an integer in 1..1000, got ${limit}`,
    );
  }
  values.push(limit);
  const { rows } = await query<SummaryRow>(
    db,
    `SELECT ${SUMMARY_COLUMNS} FROM dead_letters
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY id DESC LIMIT $${values.length}`,
    values,
  );
  return rows.map(toSummary);
}

/** One entry with its payload, or `undefined`. */
export async function getDlqEntry(
  db: Queryable,
  id: number,
  opts: { forUpdate?: boolean } = {},
): Promise<DlqEntry | undefined> {
  assertId(id);
  const { rows } = await query<SummaryRow & { payload: Buffer | null }>(
    db,
    `SELECT ${SUMMARY_COLUMNS}, payload FROM dead_letters WHERE id = $1
      ${opts.forUpdate ? 'FOR UPDATE' : ''}`,
    [id],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    ...toSummary(row),
    payload: row.payload === null ? null : new Uint8Array(row.payload),
  };
}

/** Open entries per code (the `keel.dlq.depth` gauge). */
export async function openDepthByCode(db: Queryable): Promise<Map<string, number>> {
  const { rows } = await query<{ code: string; n: number }>(
    db,
    `SELECT code, count(*)::int AS n FROM dead_letters WHERE status = 'open' GROUP BY code`,
  );
  return new Map(rows.map((r) => [r.code, r.n]));
}

export function assertId(id: number): void {
  if (!Number.isSafeInteger(id) || id < 1) {
    throw new DlqError(DlqErrorCode.INVALID_ARGUMENT, `invalid entry id '${id}'`);
  }
}

/** Runs a query, turning "no such table" into a clear `NOT_MIGRATED` error. */
export async function query<R extends object>(
  db: Queryable,
  sql: string,
  values: unknown[] = [],
): Promise<{ rows: R[]; rowCount: number | null }> {
  try {
    const r = await db.query<R & Record<string, unknown>>(sql, values);
    return { rows: r.rows, rowCount: r.rowCount };
  } catch (err) {
    if (pgErrorFields(err).code === '42P01') {
      throw new DlqError(
        DlqErrorCode.NOT_MIGRATED,
        'no dead_letters table in this schema: start the budget guard once (it applies migration 0004), or check KEEL_DB_SCHEMA',
        { cause: err },
      );
    }
    throw err;
  }
}

interface SummaryRow {
  id: string;
  dlq_stream_seq: string;
  kind: DlqKind;
  consumer: string;
  stream: string | null;
  subject: string | null;
  stream_seq: string | null;
  deliveries: number | null;
  code: string;
  reason: string;
  run_id: string | null;
  trace_id: string | null;
  payload_bytes: number | null;
  headers: Record<string, string>;
  dead_lettered_at: Date;
  ingested_at: Date;
  status: DlqStatus;
  resolved_at: Date | null;
  resolved_by: string | null;
  resolution_note: string | null;
  redrive_count: number;
  duplicate_of: string | null;
}

const num = (v: string | null): number | null => (v === null ? null : Number(v));

function toSummary(r: SummaryRow): DlqEntrySummary {
  return {
    id: Number(r.id),
    dlqStreamSeq: Number(r.dlq_stream_seq),
    kind: r.kind,
    consumer: r.consumer,
    stream: r.stream,
    subject: r.subject,
    streamSeq: num(r.stream_seq),
    deliveries: r.deliveries,
    code: r.code,
    reason: r.reason,
    runId: r.run_id,
    traceId: r.trace_id,
    payloadBytes: r.payload_bytes,
    headers: r.headers,
    deadLetteredAt: r.dead_lettered_at,
    ingestedAt: r.ingested_at,
    status: r.status,
    resolvedAt: r.resolved_at,
    resolvedBy: r.resolved_by,
    resolutionNote: r.resolution_note,
    redriveCount: r.redrive_count,
    duplicateOf: num(r.duplicate_of),
  };
}
