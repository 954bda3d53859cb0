import { Pool } from 'pg';
import { EventStoreArgumentError } from './errors';

/** Schema names the store accepts: plain lowercase identifiers, never quoted. */
export const SCHEMA_NAME_RE = /^[a-z_][a-z0-9_]{0,62}$/;

export function assertSchemaName(schema: string): void {
  if (!SCHEMA_NAME_RE.test(schema)) {
    throw new EventStoreArgumentError(
      `invalid schema name '${schema}': lowercase letters, digits or _, at most 63, not starting with a digit`,
    );
  }
}

export interface PoolOptions {
  connectionString: string;
  /** Every session of the pool uses `search_path=<schema>`; the store's SQL is unqualified. */
  schema: string;
  max?: number;
  applicationName?: string;
  /**
   * Called when an idle connection fails (e.g. PostgreSQL restarted). The pool
   * already discards that connection; without a listener pg would crash the
   * process, so the default ignores it and the next query reconnects.
   */
  onIdleError?: (err: Error) => void;
}

/** A pool whose sessions are pinned to one schema. */
export function createPool(options: PoolOptions): Pool {
  assertSchemaName(options.schema);
  const pool = new Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName,
    options: `-c search_path=${options.schema}`,
  });
  pool.on('error', (err) => options.onIdleError?.(err));
  return pool;
}
