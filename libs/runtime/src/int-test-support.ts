// Shared set-up for this library's *.int.spec.ts files (not exported): libraries
// may not depend on @keel/testing, which holds the same helper for apps and suites.
import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { createPool, dropSchema, migrate } from '@keel/event-store';

const DB = process.env.KEEL_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A migrated schema of its own (`<tag>_<12 hex>`) and a pool pinned to it; `drop()` removes both. */
export async function migratedSchema(
  tag: string,
  max = 4,
): Promise<{ pool: Pool; drop: () => Promise<void> }> {
  const schema = `${tag}_${randomBytes(6).toString('hex')}`;
  const pool = createPool({ connectionString: DB, schema, max });
  await migrate(pool, schema);
  return {
    pool,
    async drop() {
      await pool.end();
      await dropSchema(DB, schema);
    },
  };
}

/** `pool`, with the name of every query it runs pushed to `names` (to see which statements a step costs). */
export function countingQueries(pool: Pool, names: string[]): Pool {
  return new Proxy(pool, {
    get(target, key) {
      if (key === 'query')
        return (config: { name?: string; text: string }, ...rest: unknown[]) => {
          names.push(config.name ?? config.text);
          return (target.query as (...a: unknown[]) => unknown)(config, ...rest);
        };
      const v: unknown = Reflect.get(target, key);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
