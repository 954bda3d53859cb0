import type { Pool } from 'pg';
import { withTransaction } from '@keel/event-store';
import { LogFolder } from '@keel/projections';
import { cursorOf, LOG_START, readLogPage } from './log-rows';
import { savePositions, saveSummaries, toProjectable } from './summary-rows';

export interface RebuildResult {
  readonly events: number;
  readonly runs: number;
  readonly streams: number;
  /** Streams whose folding stopped at a missing version (should be none). */
  readonly gaps: readonly string[];
}

/**
 * Truncates `run_summaries` and `projection_positions` and folds the whole
 * log into them again, in ONE repeatable-read transaction:
 * - the tables are locked (ACCESS EXCLUSIVE) before anything is read, so the
 *   live projector waits, and afterwards resumes from the rebuilt positions
 *   (anything committed after the rebuild's snapshot is applied by it then);
 * - every page of the log is read in the same snapshot, so no event that
 *   commits meanwhile is half-included;
 * - a failure (an event this build cannot read) rolls everything back: the
 *   old rows stay.
 * Nothing outside the tables is done: no review webhook is requested again.
 */
export function rebuildProjections(
  pool: Pool,
  opts: { batchSize?: number } = {},
): Promise<RebuildResult> {
  const batchSize = opts.batchSize ?? 2_000;
  return withTransaction(
    pool,
    async (c) => {
      await c.query('LOCK TABLE run_summaries, projection_positions IN ACCESS EXCLUSIVE MODE');
      await c.query('TRUNCATE run_summaries, projection_positions');
      const folder = new LogFolder();
      let cursor = LOG_START;
      let events = 0;
      for (;;) {
        const page = await readLogPage(c, cursor, batchSize);
        for (const e of page) folder.add(toProjectable(e));
        events += page.length;
        if (page.length < batchSize) break;
        cursor = cursorOf(page.at(-1)!);
      }
      const summaries = folder.summaries();
      const positions = folder.positions();
      for (let i = 0; i < summaries.length; i += 500)
        await saveSummaries(c, summaries.slice(i, i + 500));
      for (let i = 0; i < positions.length; i += 2_000)
        await savePositions(c, positions.slice(i, i + 2_000));
      return { events, runs: summaries.length, streams: positions.length, gaps: folder.gaps() };
    },
    { isolation: 'repeatable read', retries: 0 },
  );
}
