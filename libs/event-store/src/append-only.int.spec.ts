import type { Pool } from 'pg';
import { appendToStream } from './append';
import { freshStore, runRequested } from './int-test-support';

describe('events table is append-only', () => {
  let pool: Pool;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    ({ pool, drop } = await freshStore());
    const { streamId, event } = runRequested();
    await appendToStream(pool, streamId, 0, [event]);
  });
  afterAll(() => drop());

  it('rejects UPDATE', async () => {
    await expect(pool.query(`UPDATE events SET type = 'Changed'`)).rejects.toThrow(
      /keel events are append-only: UPDATE on es_\w+\.events is not allowed/,
    );
  });

  it('rejects DELETE', async () => {
    await expect(pool.query('DELETE FROM events')).rejects.toThrow(
      /keel events are append-only: DELETE on es_\w+\.events is not allowed/,
    );
  });

  it('rejects TRUNCATE', async () => {
    await expect(pool.query('TRUNCATE events')).rejects.toThrow(
      /keel events are append-only: TRUNCATE on es_\w+\.events is not allowed/,
    );
  });

  it('still holds the event afterwards', async () => {
    const res = await pool.query('SELECT count(*)::int AS n FROM events');
    expect(res.rows[0]).toEqual({ n: 1 });
  });
});
