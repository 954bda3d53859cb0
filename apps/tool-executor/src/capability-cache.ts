import { streamIds } from '@keel/contracts';
import type { ReadBatcher } from '@keel/runtime';

/**
 * A run's capability (its allowed tools) never changes after RunRequested, so
 * each executor reads it once per run and keeps it in a bounded LRU. Reads go
 * through the `ReadBatcher`: the first calls of runs that arrive together
 * share one statement.
 */
export class CapabilityCache {
  private readonly runs = new Map<string, ReadonlySet<string>>();
  constructor(
    private readonly reader: ReadBatcher,
    private readonly max = 10_000,
  ) {}

  /** The tools the run may call, or null when the run is unknown. */
  async toolsOf(runId: string): Promise<ReadonlySet<string> | null> {
    const hit = this.runs.get(runId);
    if (hit) return hit;
    const [first] = await this.reader.read(streamIds.run(runId), { toVersion: 1 });
    const tools = first?.type === 'RunRequested' ? new Set(first.data.capability.tools) : null;
    if (tools) {
      this.runs.set(runId, tools);
      if (this.runs.size > this.max) this.runs.delete(this.runs.keys().next().value!);
    }
    return tools;
  }
}
