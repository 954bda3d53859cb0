import type { Pool, PoolClient } from 'pg';
import { MigrationError } from './errors';
import { findMigrationsDir, loadMigrations, type Migration } from './migrations-dir';
import { assertSchemaName } from './pool';

export interface AppliedMigration {
  version: number;
  name: string;
}

/**
 * Apply pending migrations to `schema`; returns those this call applied.
 *
 * Safe to run from every service at start-up at once: each migration runs in
 * its own transaction that first takes a transaction-level advisory lock on
 * the schema, so concurrent callers queue, and each re-checks
 * `schema_migrations` under the lock and skips what another caller applied.
 * A failing migration rolls back alone; earlier ones stay applied.
 *
 * Versions in the database that this build has no file for (a newer build
 * migrated first) are left alone, so rolling deploys work.
 */
export async function migrate(
  pool: Pool,
  schema: string,
  options: { dir?: string } = {},
): Promise<AppliedMigration[]> {
  assertSchemaName(schema);
  const migrations = loadMigrations(options.dir ?? findMigrationsDir());
  const applied: AppliedMigration[] = [];
  const client = await pool.connect();
  // A checked-out client has no pool error listener; without one an async
  // connection error would crash the process instead of failing this call.
  let broken: Error | undefined;
  const onError = (err: Error) => (broken = err);
  client.on('error', onError);
  try {
    for (const m of migrations) {
      if (await applyOne(client, schema, m)) applied.push({ version: m.version, name: m.name });
    }
    return applied;
  } catch (err) {
    broken ??= err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}

async function applyOne(client: PoolClient, schema: string, m: Migration): Promise<boolean> {
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('keel-migrate:' || $1::text))`, [
      schema,
    ]);
    // `schema` matched SCHEMA_NAME_RE, so it is safe to splice unquoted.
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    // Pin the schema for this transaction whatever the pool's search_path is.
    await client.query(`SET LOCAL search_path TO ${schema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version int PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [
      m.version,
    ]);
    if (done.rowCount !== 0) {
      await client.query('COMMIT');
      return false;
    }
    try {
      await client.query(m.sql);
    } catch (cause) {
      throw new MigrationError(
        `migration ${pad(m.version)}_${m.name} failed in schema '${schema}': ${messageOf(cause)}`,
        { cause },
      );
    }
    await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
      m.version,
      m.name,
    ]);
    await client.query('COMMIT');
    return true;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

const pad = (v: number) => String(v).padStart(4, '0');
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));
