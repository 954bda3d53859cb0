import type { Pool } from 'pg';
import { appendToStream } from './append';
import { checkpointAgedBefore, loadCheckpoint, saveCheckpoint } from './checkpoints';
import { markProcessed } from './inbox';
import { freshStore, runRequested } from './int-test-support';
import { streamVersion } from './read-stream';
import { withTransaction } from './transaction';
import { checkpointAfter, START_CHECKPOINT } from './types';

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

  it('finds the checkpoint behind which every event is at least so old', async () => {
    const older = runRequested();
    const [a] = (await appendToStream(pool, older.streamId, 0, [older.event])).records;
    await new Promise((r) => setTimeout(r, 400));
    const newer = runRequested();
    const [b] = (await appendToStream(pool, newer.streamId, 0, [newer.event])).records;
    const upToB = checkpointAfter(b!);
    // b is younger than 300 ms, a older: reading from the answer reads b again, not a.
    await expect(checkpointAgedBefore(pool, upToB, 300)).resolves.toEqual(checkpointAfter(a!));
    // Never after the checkpoint it starts from, and the log's start when all of it is young.
    await expect(checkpointAgedBefore(pool, checkpointAfter(a!), 0)).resolves.toEqual(
      checkpointAfter(a!),
    );
    await expect(checkpointAgedBefore(pool, upToB, 60_000)).resolves.toEqual(START_CHECKPOINT);
  });
});
