import type { Pool } from 'pg';
import { appendToStream } from './append';
import { loadCheckpoint, saveCheckpoint } from './checkpoints';
import { markProcessed } from './inbox';
import { freshStore, runRequested } from './int-test-support';
import { streamVersion } from './read-stream';
import { withTransaction } from './transaction';
import { START_CHECKPOINT } from './types';

describe('inbox and checkpoints', () => {
  let pool: Pool;
  let drop: () => Promise<void>;

  beforeAll(async () => ({ pool, drop } = await freshStore()));
  afterAll(() => drop());

  it('marks a message processed once per consumer', async () => {
    await expect(markProcessed(pool, 'planner', 'msg-1')).resolves.toBe(true);
    await expect(markProcessed(pool, 'planner', 'msg-1')).resolves.toBe(false);
    await expect(markProcessed(pool, 'budget-guard', 'msg-1')).resolves.toBe(true);
  });

  it('leaves no inbox row (and no events) when the handler transaction rolls back', async () => {
    const { streamId, event } = runRequested();
    await expect(
      withTransaction(pool, async (client) => {
        expect(await markProcessed(client, 'planner', 'msg-2')).toBe(true);
        await appendToStream(client, streamId, 0, [event]);
        throw new Error('handler failed');
      }),
    ).rejects.toThrow('handler failed');
    const rows = await pool.query(`SELECT 1 FROM inbox WHERE message_id = 'msg-2'`);
    expect(rows.rowCount).toBe(0);
    await expect(streamVersion(pool, streamId)).resolves.toBe(0);
    await expect(markProcessed(pool, 'planner', 'msg-2')).resolves.toBe(true);
  });

  it('loads START_CHECKPOINT when none was saved', async () => {
    await expect(loadCheckpoint(pool, 'relay')).resolves.toEqual(START_CHECKPOINT);
  });

  it('saves and overwrites checkpoints', async () => {
    const big = { transactionId: '18446744073709551000', globalPosition: '9007199254740993' };
    await saveCheckpoint(pool, 'relay', { transactionId: '42', globalPosition: '7' });
    await expect(loadCheckpoint(pool, 'relay')).resolves.toEqual({
      transactionId: '42',
      globalPosition: '7',
    });
    await saveCheckpoint(pool, 'relay', big);
    await expect(loadCheckpoint(pool, 'relay')).resolves.toEqual(big);
    await expect(loadCheckpoint(pool, 'other')).resolves.toEqual(START_CHECKPOINT);
  });
});
