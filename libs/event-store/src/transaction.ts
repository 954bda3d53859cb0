import { DatabaseError, type Pool, type PoolClient } from 'pg';
import { isSerializationFailure } from './pg-errors';

export interface TransactionOptions {
  /** Extra attempts after a serialization failure or deadlock (default 3). */
  retries?: number;
  isolation?: 'read committed' | 'repeatable read' | 'serializable';
}

/**
 * Run `fn` in a transaction on one pooled client: COMMIT when it resolves,
 * ROLLBACK when it throws, and always release the client.
 *
 * Only serialization failures and deadlocks (40001, 40P01) are retried, by
 * running `fn` again from the start in a new transaction: `fn` must therefore
 * have no effects outside the transaction. Every other error (including
 * `ConcurrencyError`, which needs the caller to reload state) propagates.
 */
export async function withTransaction<T>(
  pool: Pool,
  fn: (client: PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const retries = options.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    try {
      return await runOnce(pool, fn, options.isolation);
    } catch (err) {
      if (attempt >= retries || !isSerializationFailure(err)) throw err;
      await sleep(10 * 2 ** attempt * (0.5 + Math.random()));
    }
  }
}

async function runOnce<T>(
  pool: Pool,
  fn: (client: PoolClient) => Promise<T>,
  isolation: TransactionOptions['isolation'],
): Promise<T> {
  const client = await pool.connect();
  // Set when the connection is in doubt; `release(err)` then destroys it.
  let broken: Error | undefined;
  // pg-pool stops listening while a client is checked out; an unheard 'error'
  // (e.g. PostgreSQL shutting down between our queries) would crash the process.
  const onError = (err: Error) => (broken = err);
  client.on('error', onError);
  const onWire = async (sql: string) => {
    try {
      await client.query(sql);
    } catch (err) {
      // Not a server error: the socket failed, not the statement.
      if (!(err instanceof DatabaseError)) broken = toError(err);
      throw err;
    }
  };
  try {
    await onWire(isolation ? `BEGIN ISOLATION LEVEL ${isolation.toUpperCase()}` : 'BEGIN');
    let result: T;
    try {
      result = await fn(client);
    } catch (err) {
      // A failed ROLLBACK leaves the session in doubt whatever the error.
      await client.query('ROLLBACK').catch((e: unknown) => (broken = toError(e)));
      throw err;
    }
    await onWire('COMMIT');
    return result;
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}

const toError = (e: unknown) => (e instanceof Error ? e : new Error(String(e)));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
