import type { Queryable } from '@keel/event-store';
import type { RunSummary } from '@keel/projections';
import { fromRow, SUMMARY_COLUMNS, type SummaryRow } from './summary-rows';

/** Reads of `run_summaries` for the API and `keel runs`. */

export interface SummaryFilter {
  /** Undefined: every tenant (operators, admin keys). */
  readonly tenant?: string;
  readonly status?: string;
  readonly limit: number;
  /** Keyset cursor from a previous page's `nextCursor`. */
  readonly cursor?: SummaryCursor;
}

/** The last row of a page: the next page starts strictly after it (newest first). */
export interface SummaryCursor {
  readonly createdAt: string;
  readonly runId: string;
}

export interface SummaryPage {
  readonly runs: RunSummary[];
  readonly nextCursor: SummaryCursor | null;
}

/**
 * Runs newest first (by `created_at`, then run id), keyset-paged: a page is
 * stable under concurrent inserts (a new run never shifts the next page).
 * Only runs the planner has recorded (`created_at` set) are listed.
 */
export async function listSummaries(q: Queryable, f: SummaryFilter): Promise<SummaryPage> {
  const where = ['created_at IS NOT NULL'];
  const values: unknown[] = [];
  const add = (sql: (n: number) => string, ...v: unknown[]) => {
    const n = values.length + 1;
    values.push(...v);
    where.push(sql(n));
  };
  if (f.tenant !== undefined) add((n) => `tenant = $${n}`, f.tenant);
  if (f.status !== undefined) add((n) => `status = $${n}`, f.status);
  if (f.cursor)
    add(
      (n) => `(created_at, run_id) < ($${n}::timestamptz, $${n + 1}::uuid)`,
      f.cursor.createdAt,
      f.cursor.runId,
    );
  values.push(f.limit + 1);
  const { rows } = await q.query<SummaryRow>(
    `SELECT ${SUMMARY_COLUMNS} FROM run_summaries WHERE ${where.join(' AND ')}
      ORDER BY created_at DESC, run_id DESC LIMIT $${values.length}`,
    values,
  );
  const runs = rows.slice(0, f.limit).map(fromRow);
  const last = runs.at(-1);
  return {
    runs,
    nextCursor:
      rows.length > f.limit && last ? { createdAt: last.createdAt!, runId: last.runId } : null,
  };
}

/** Every row, ordered by run id: what a rebuild is compared with. */
export async function allSummaries(q: Queryable): Promise<RunSummary[]> {
  const { rows } = await q.query<SummaryRow>(
    `SELECT ${SUMMARY_COLUMNS} FROM run_summaries ORDER BY run_id`,
  );
  return rows.map(fromRow);
}
