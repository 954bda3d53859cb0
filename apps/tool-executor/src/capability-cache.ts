import type { Pool } from 'pg';
import { streamIds } from '@keel/contracts';
import { readStream } from '@keel/event-store';

/**
 * A run's capability (its allowed tools) never changes after RunRequested, so
 * each executor reads it once per run and keeps it in a bounded LRU.
 */
export class CapabilityCache {
  private readonly runs = new Map<string, ReadonlySet<string> | null>();
  constructor(
    private readonly pool: Pool,
    private readonly max = 10_000,
  ) {}

  /** The tools the run may call, or null when the run is unknown. */
  async toolsOf(runId: string): Promise<ReadonlySet<string> | null> {
    const hit = this.runs.get(runId);
    if (hit) return hit;
    const [first] = await readStream(this.pool, streamIds.run(runId), { toVersion: 1 });
    const tools = first?.type === 'RunRequested' ? new Set(first.data.capability.tools) : null;
    if (tools) {
      this.runs.set(runId, tools);
      if (this.runs.size > this.max) this.runs.delete(this.runs.keys().next().value!);
    }
    return tools;
  }
}
