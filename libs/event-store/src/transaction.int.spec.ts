import { Pool } from 'pg';
import { ConcurrencyError } from './errors';
import { freshStore, TEST_DATABASE_URL } from './int-test-support';
import { isRetryablePgError, isSerializationFailure } from './pg-errors';
import { withTransaction } from './transaction';

describe('withTransaction', () => {
  let pool: Pool;
  let drop: () => Promise<void>;

  beforeAll(async () => ({ pool, drop } = await freshStore(3)));
  afterAll(() => drop());

  const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code });

  it('commits, returns the result and releases the client', async () => {
    const result = await withTransaction(pool, async (c) => {
      await c.query(`INSERT INTO inbox (consumer, message_id) VALUES ('t', 'commit')`);
      return 'ok';
    });
    expect(result).toBe('ok');
    expect((await pool.query(`SELECT 1 FROM inbox WHERE message_id = 'commit'`)).rowCount).toBe(1);
    expect(pool.totalCount).toBe(pool.idleCount);
  });

  it('retries the whole function on serialization failure and deadlock only', async () => {
    let calls = 0;
    const result = await withTransaction(pool, () => {
      calls++;
      if (calls === 1) return Promise.reject(pgError('40001'));
      if (calls === 2) return Promise.reject(pgError('40P01'));
      return Promise.resolve(calls);
    });
    expect(result).toBe(3);

    calls = 0;
    const conflict = new ConcurrencyError('run:x', 1);
    await expect(withTransaction(pool, () => Promise.reject((calls++, conflict)))).rejects.toBe(
      conflict,
    );
    expect(calls).toBe(1);

    calls = 0;
    await expect(
      withTransaction(pool, () => Promise.reject((calls++, pgError('40001'))), { retries: 2 }),
    ).rejects.toThrow('pg 40001');
    expect(calls).toBe(3);
    expect(pool.totalCount).toBe(pool.idleCount);
  });

  it('retries a real serialization failure', async () => {
    await pool.query(`INSERT INTO checkpoints VALUES ('ser', '1', 1, now())`);
    let attempts = 0;
    const bump = () =>
      withTransaction(
        pool,
        async (c) => {
          attempts++;
          const { rows } = await c.query<{ p: string }>(
            `SELECT global_position AS p FROM checkpoints WHERE name = 'ser'`,
          );
          await new Promise((r) => setTimeout(r, 50));
          await c.query(`UPDATE checkpoints SET global_position = $1 WHERE name = 'ser'`, [
            BigInt(rows[0]!.p) + 1n,
          ]);
        },
        { isolation: 'repeatable read', retries: 5 },
      );
    await Promise.all([bump(), bump()]);
    const { rows } = await pool.query(
      `SELECT global_position::int AS p FROM checkpoints WHERE name = 'ser'`,
    );
    expect(rows[0]).toEqual({ p: 3 });
    expect(attempts).toBeGreaterThan(2);
  });

  it('classifies a terminated backend as retryable and drops the dead client', async () => {
    const admin = new Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
    try {
      const err = await withTransaction(pool, async (c) => {
        const { rows } = await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        await c.query('SELECT 1');
      }).catch((e: unknown) => e);
      expect(isRetryablePgError(err)).toBe(true);
      expect(isSerializationFailure(err)).toBe(false);
      // The pool recovers: the next transaction gets a working connection.
      await expect(
        withTransaction(
          pool,
          async (c) => (await c.query<{ one: number }>('SELECT 1 AS one')).rows[0],
        ),
      ).resolves.toEqual({
        one: 1,
      });
    } finally {
      await admin.end();
    }
  });
});

describe('isRetryablePgError', () => {
  it('is true when PostgreSQL is unreachable', async () => {
    const dead = new Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/test', max: 1 });
    const err = await dead.query('SELECT 1').catch((e: unknown) => e);
    await dead.end();
    expect(isRetryablePgError(err)).toBe(true);
  });

  it('classifies server codes and wrapped causes', () => {
    const code = (c: string) => Object.assign(new Error(c), { code: c });
    for (const c of ['57P01', '57P03', '08006', '08001', 'ECONNRESET', '40001', '40P01']) {
      expect(isRetryablePgError(code(c))).toBe(true);
    }
    for (const c of ['23505', '42P01', '22P02']) expect(isRetryablePgError(code(c))).toBe(false);
    expect(isRetryablePgError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isRetryablePgError(new Error('wrapped', { cause: code('57P01') }))).toBe(true);
    expect(isRetryablePgError(new ConcurrencyError('run:x', 0, { cause: code('23505') }))).toBe(
      false,
    );
    expect(isRetryablePgError('nope')).toBe(false);
  });
});
