import {
  isProjectedStream,
  projectEvent,
  type ProjectableEvent,
  type RunSummary,
} from './run-summary';

/**
 * Folds events given in ANY interleaving of streams into summaries, applying
 * each stream strictly in version order: an event that arrives ahead of its
 * predecessor waits until the gap is filled. Used by `keel projections
 * rebuild` over the whole log (commit order is version order within a stream
 * in practice, but nothing here relies on it) and by tests that shuffle.
 *
 * An in-memory accumulator: `add` changes it; `summaries()` / `positions()`
 * read it. Memory grows with the number of runs folded.
 */
export class LogFolder {
  private readonly runs = new Map<string, RunSummary>();
  /** Last version applied per stream. */
  private readonly applied = new Map<string, number>();
  /** Events waiting for an earlier version of their stream. */
  private readonly waiting = new Map<string, Map<number, ProjectableEvent>>();
  /** The run each stream belongs to. */
  private readonly runOf = new Map<string, string>();

  add(event: ProjectableEvent): void {
    if (!isProjectedStream(event.streamId)) return;
    const last = this.applied.get(event.streamId) ?? 0;
    if (event.streamVersion <= last) return; // already applied
    if (event.streamVersion > last + 1) {
      const w = this.waiting.get(event.streamId) ?? new Map<number, ProjectableEvent>();
      w.set(event.streamVersion, event);
      this.waiting.set(event.streamId, w);
      return;
    }
    this.apply(event);
    const w = this.waiting.get(event.streamId);
    for (let v = event.streamVersion + 1; w?.has(v); v++) {
      this.apply(w.get(v)!);
      w.delete(v);
    }
    if (w?.size === 0) this.waiting.delete(event.streamId);
  }

  summaries(): RunSummary[] {
    return [...this.runs.values()];
  }

  /** Last applied version per stream (what the live projector keeps in `projection_positions`). */
  positions(): Array<{ streamId: string; runId: string; version: number }> {
    return [...this.applied.entries()].map(([streamId, version]) => ({
      streamId,
      runId: this.runOf.get(streamId)!,
      version,
    }));
  }

  /** Streams with events still waiting for a missing version (a gap in the log: should be none). */
  gaps(): string[] {
    return [...this.waiting.keys()];
  }

  private apply(e: ProjectableEvent): void {
    const runId = e.metadata.correlationId;
    this.runs.set(runId, projectEvent(this.runs.get(runId), e));
    this.applied.set(e.streamId, e.streamVersion);
    this.runOf.set(e.streamId, runId);
  }
}
