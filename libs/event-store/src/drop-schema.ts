import { Pool } from 'pg';
import { assertSchemaName } from './pool';

/**
 * Drops a deployment's schema with everything in it (the inverse of `migrate`),
 * over a short-lived connection of its own. For tests and throwaway stacks:
 * the caller ends any pool pinned to the schema first.
 */
export async function dropSchema(connectionString: string, schema: string): Promise<void> {
  assertSchemaName(schema);
  const admin = new Pool({ connectionString, max: 1 });
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await admin.end();
  }
}
