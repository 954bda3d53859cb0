import { connect, type NatsConnection } from 'nats';
import type { Pool } from 'pg';
import { createPool } from '@keel/event-store';
import { BaseConfig, parseConfig } from '@keel/runtime';
import { oneLine } from './args';

/**
 * The CLI's connections, configured like the services (KEEL_DATABASE_URL,
 * KEEL_DB_SCHEMA, KEEL_NATS_URL, KEEL_NATS_USER / KEEL_NATS_PASSWORD /
 * KEEL_NATS_INBOX_PREFIX, KEEL_PREFIX). A connection that fails is one line
 * naming where it tried (never the password).
 */
export const cliConfig = (env: NodeJS.ProcessEnv) => parseConfig(BaseConfig, env);

/** Run `fn` with a small pool on KEEL_DATABASE_URL / KEEL_DB_SCHEMA (checked with `SELECT 1` first). */
export async function withPool<T>(
  env: NodeJS.ProcessEnv,
  name: string,
  fn: (pool: Pool, schema: string) => Promise<T>,
): Promise<T> {
  const config = cliConfig(env);
  const pool = createPool({
    connectionString: config.KEEL_DATABASE_URL,
    schema: config.KEEL_DB_SCHEMA,
    max: 2,
    applicationName: name,
  });
  try {
    try {
      await pool.query('SELECT 1');
    } catch (err) {
      throw new Error(
        `cannot connect to PostgreSQL at ${redacted(config.KEEL_DATABASE_URL)}: ${oneLine(err)}`,
        { cause: err },
      );
    }
    return await fn(pool, config.KEEL_DB_SCHEMA);
  } finally {
    await pool.end();
  }
}

/** Run `fn` with a NATS connection (closed afterwards) as KEEL_NATS_USER. */
export async function withNats<T>(
  env: NodeJS.ProcessEnv,
  name: string,
  fn: (nc: NatsConnection) => Promise<T>,
): Promise<T> {
  const config = cliConfig(env);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: config.KEEL_NATS_URL.split(','),
      name,
      timeout: 5_000,
      ...(config.KEEL_NATS_USER ? { user: config.KEEL_NATS_USER } : {}),
      ...(config.KEEL_NATS_PASSWORD ? { pass: config.KEEL_NATS_PASSWORD } : {}),
      ...(config.KEEL_NATS_INBOX_PREFIX ? { inboxPrefix: config.KEEL_NATS_INBOX_PREFIX } : {}),
    });
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${config.KEEL_NATS_URL}: ${oneLine(err)}`, {
      cause: err,
    });
  }
  try {
    return await fn(nc);
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** A table that does not exist yet (SQLSTATE 42P01): the service that migrates the schema has not run. */
export function notMigrated(err: unknown): boolean {
  return (err as { code?: unknown }).code === '42P01';
}

function redacted(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid KEEL_DATABASE_URL)';
  }
}
