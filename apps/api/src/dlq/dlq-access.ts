import type { Pool } from 'pg';
import { getDlqEntry, type DlqEntrySummary, type ListFilter } from '@keel/dlq';
import type { ApiPrincipal } from '@keel/projections/store';
import { notFound } from '../http/api-error';

/**
 * Tenancy of dead letters: an entry belongs to a tenant when it names a run
 * (`run_id`) that the read model knows as that tenant's. A tenant key sees
 * only those; entries without a run (an unreadable message, an advisory for
 * a message without a run header) are operator business — admin keys see
 * everything.
 */

/** Ids of a tenant's entries matching `filter`, newest first. */
export async function tenantEntryIds(
  pool: Pool,
  tenant: string,
  filter: ListFilter,
): Promise<number[]> {
  const where = [
    'd.run_id IS NOT NULL',
    'EXISTS (SELECT 1 FROM run_summaries r WHERE r.run_id::text = d.run_id AND r.tenant = $1)',
  ];
  const values: unknown[] = [tenant];
  const add = (col: string, v: unknown) => {
    values.push(v);
    where.push(`d.${col} = $${values.length}`);
  };
  if (filter.status && filter.status !== 'all') add('status', filter.status);
  if (filter.code !== undefined) add('code', filter.code);
  if (filter.runId !== undefined) add('run_id', filter.runId);
  if (filter.consumer !== undefined) add('consumer', filter.consumer);
  values.push(filter.limit ?? 50);
  const { rows } = await pool.query<{ id: string }>(
    `SELECT d.id FROM dead_letters d WHERE ${where.join(' AND ')}
      ORDER BY d.id DESC LIMIT $${values.length}`,
    values,
  );
  return rows.map((r) => Number(r.id));
}

/** The entry if the caller may see it, else 404 (as for an entry that does not exist). */
export async function assertEntryVisible(pool: Pool, who: ApiPrincipal, id: number): Promise<void> {
  if (who.role === 'admin') return;
  const entry = await getDlqEntry(pool, id);
  const runId = entry?.runId;
  if (!runId) throw notFound(`dead letter #${id}`);
  const { rows } = await pool.query(
    'SELECT 1 FROM run_summaries WHERE run_id::text = $1 AND tenant = $2',
    [runId, who.tenant],
  );
  if (rows.length === 0) throw notFound(`dead letter #${id}`);
}

export async function entriesByIds(pool: Pool, ids: readonly number[]): Promise<DlqEntrySummary[]> {
  const found = await Promise.all(ids.map((id) => getDlqEntry(pool, id)));
  return found.flatMap((e) => {
    if (!e) return [];
    const { payload, ...summary } = e;
    return [{ ...summary, payloadBytes: payload?.length ?? null }];
  });
}
