import type { Pool } from 'pg';
import type { RunSummary } from '@keel/projections';
import { loadSummary, runTenantInLog, type ApiPrincipal } from '@keel/projections/store';
import { canSeeTenant } from '../auth/api-key.guard';
import { notFound } from '../http/api-error';

/** A run the caller may see: its tenant, and its summary once projected. */
export interface VisibleRun {
  readonly runId: string;
  readonly tenant: string;
  readonly summary: RunSummary | undefined;
  /** Accepted by POST /runs at this time, not yet recorded by the planner. */
  readonly submittedAt: Date | undefined;
}

/**
 * Finds a run for a caller, or 404 — the same 404 for a run that does not
 * exist and for another tenant's run, so a tenant cannot probe run ids.
 * Looks in the read model first, then at runs the API accepted but the
 * planner has not recorded yet, then in the log (a run submitted over NATS
 * that the projector has not reached yet).
 */
export async function findVisibleRun(
  pool: Pool,
  who: ApiPrincipal,
  runId: string,
): Promise<VisibleRun> {
  const summary = await loadSummary(pool, runId);
  let tenant = summary?.tenant;
  let submittedAt: Date | undefined;
  if (!tenant) {
    const { rows } = await pool.query<{ tenant: string; submitted_at: Date }>(
      'SELECT tenant, submitted_at FROM api_run_submissions WHERE run_id = $1',
      [runId],
    );
    tenant = rows[0]?.tenant;
    submittedAt = rows[0]?.submitted_at;
  }
  tenant ??= await runTenantInLog(pool, runId);
  if (!tenant || !canSeeTenant(who, tenant)) throw notFound(`run ${runId}`);
  return { runId, tenant, summary, submittedAt };
}
