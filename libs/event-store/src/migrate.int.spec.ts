import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { EventStoreArgumentError, MigrationError } from './errors';
import { dropSchema, randomSchema, TEST_DATABASE_URL } from './int-test-support';
import { migrate } from './migrate';
import { findMigrationsDir, loadMigrations } from './migrations-dir';
import { createPool } from './pool';

describe('migrate', () => {
  const schema = randomSchema();
  const pools: Pool[] = Array.from({ length: 5 }, () =>
    createPool({ connectionString: TEST_DATABASE_URL, schema, max: 2 }),
  );

  afterAll(async () => {
    await Promise.all(pools.slice(1).map((p) => p.end()));
    await dropSchema(pools[0]!, schema);
  });

  it('finds infra/migrations from the source tree', () => {
    const dir = findMigrationsDir();
    expect(dir).toMatch(/infra[/\\]migrations$/);
    expect(loadMigrations(dir)[0]).toMatchObject({ version: 1, name: 'events' });
  });

  it('applies every migration once when 5 services start at the same time', async () => {
    const results = await Promise.all(pools.map((p) => migrate(p, schema)));
    const expected = loadMigrations(findMigrationsDir()).map((m) => m.version);
    // Every migration was applied by exactly one of the callers.
    expect(
      results
        .flat()
        .map((m) => m.version)
        .sort(),
    ).toEqual(expected);

    const recorded = await pools[0]!.query<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    expect(recorded.rows.map((r) => r.version)).toEqual(expected);
    const tables = await pools[0]!.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
      [schema],
    );
    expect(tables.rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['checkpoints', 'events', 'inbox', 'schema_migrations']),
    );
  });

  it('applies nothing the second time', async () => {
    await expect(migrate(pools[1]!, schema)).resolves.toEqual([]);
  });

  it('rolls back a failing migration alone and reports it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keel-migrations-'));
    writeFileSync(join(dir, '0001_ok.sql'), 'CREATE TABLE ok_table (id int);');
    writeFileSync(join(dir, '0002_broken.sql'), 'CREATE TABLE half_done (id int); SELEC 1;');
    writeFileSync(join(dir, 'README.md'), 'ignored');
    const other = randomSchema();
    const pool = createPool({ connectionString: TEST_DATABASE_URL, schema: other, max: 1 });
    try {
      const err = await migrate(pool, other, { dir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationError);
      expect((err as MigrationError).message).toMatch(/0002_broken/);
      const versions = await pool.query('SELECT version FROM schema_migrations');
      expect(versions.rows).toEqual([{ version: 1 }]);
      const half = await pool.query(`SELECT to_regclass('half_done') AS t`);
      expect(half.rows[0]).toEqual({ t: null });
    } finally {
      await dropSchema(pool, other);
    }
  });

  it('rejects schema names that are not plain identifiers', async () => {
    await expect(migrate(pools[0]!, 'bad-name; DROP')).rejects.toBeInstanceOf(
      EventStoreArgumentError,
    );
    expect(() => createPool({ connectionString: TEST_DATABASE_URL, schema: 'Public' })).toThrow(
      EventStoreArgumentError,
    );
  });
});
