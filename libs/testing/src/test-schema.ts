import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { createPool, dropSchema, migrate } from '@keel/event-store';

export const TEST_DATABASE_URL =
  process.env.KEEL_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestSchema {
  readonly schema: string;
  /** Pinned to the schema (its `search_path`). */
  readonly pool: Pool;
  /** Ends the pool and drops the schema with everything in it. */
  drop(): Promise<void>;
}

/**
 * A migrated PostgreSQL schema of its own for one integration-test file, on
 * the shared test database: `<tag>_<12 hex>`, so files running in parallel
 * never see each other's rows.
 */
export async function migratedTestSchema(tag: string, max = 4): Promise<TestSchema> {
  const schema = `${tag}_${randomBytes(6).toString('hex')}`;
  const pool = createPool({ connectionString: TEST_DATABASE_URL, schema, max });
  await migrate(pool, schema);
  return {
    schema,
    pool,
    async drop() {
      await pool.end();
      await dropSchema(TEST_DATABASE_URL, schema);
    },
  };
}
