import { notMigrated } from '../cli-kit/connections';

/** Rethrows `err`; a missing read-model table as the fix (the API applies its migration). */
export function explainMissingSummaries(err: unknown): never {
  if (notMigrated(err))
    throw new Error(
      'no run_summaries table in this schema: start the api once (it applies migration 0006), or check KEEL_DB_SCHEMA',
    );
  throw err;
}
