import { z } from 'zod';
import { defineTool, SideEffect } from '../tool-definition';

const Key = z.string().min(1).max(200);
const JsonValue = z.json();

/** `kv_get`: read a value of the run's tenant from Keel's own key-value table. */
export const kvGetTool = defineTool({
  name: 'kv_get',
  version: '1.0.0',
  description: 'Read the JSON value stored under a key (null when there is none).',
  pool: 'default',
  sideEffect: SideEffect.Read,
  timeoutMs: 5_000,
  input: z.object({ key: Key }).strict(),
  output: z.object({ key: z.string(), value: JsonValue.nullable() }),
  execute: async ({ key }, ctx) => {
    const { rows } = await ctx.resources.db.query<{ value: unknown }>(
      'SELECT value FROM kv WHERE tenant = $1 AND key = $2',
      [ctx.tenant, key],
    );
    return { key, value: (rows[0]?.value ?? null) as z.infer<typeof JsonValue> | null };
  },
});

/**
 * `kv_put`: store a JSON value (null deletes) and return the previous one.
 * Its compensation puts the previous value back, so a failed run's writes are
 * undone in reverse order. Idempotent per call: a retry of the same call with
 * the same input leaves the same state.
 */
export const kvPutTool = defineTool({
  name: 'kv_put',
  version: '1.0.0',
  description: 'Store a JSON value under a key (null deletes it); returns the previous value.',
  pool: 'default',
  sideEffect: SideEffect.Write,
  timeoutMs: 5_000,
  input: z.object({ key: Key, value: JsonValue.nullable() }).strict(),
  output: z.object({ key: z.string(), previous: JsonValue.nullable() }),
  compensation: {
    tool: 'kv_put',
    input: (input, output) => ({ key: input.key, value: output.previous }),
  },
  execute: async ({ key, value }, ctx) => {
    // One statement: read the previous value and write the new one atomically.
    const { rows } = await ctx.resources.db.query<{ previous: unknown }>(
      `WITH prev AS (SELECT value FROM kv WHERE tenant = $1 AND key = $2),
            del AS (DELETE FROM kv WHERE tenant = $1 AND key = $2 AND $3::jsonb IS NULL),
            up AS (
              INSERT INTO kv (tenant, key, value) SELECT $1, $2, $3::jsonb WHERE $3::jsonb IS NOT NULL
              ON CONFLICT (tenant, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
            )
       SELECT (SELECT value FROM prev) AS previous`,
      [ctx.tenant, key, value === null ? null : JSON.stringify(value)],
    );
    return { key, previous: (rows[0]?.previous ?? null) as z.infer<typeof JsonValue> | null };
  },
});
