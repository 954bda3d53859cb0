import { streamIds, upcastEvent, type RelayedEvent, type RunEvent } from '@keel/contracts';
import { evolveRun, initialRunState, type RunState } from '@keel/run-domain';

/**
 * What `keel run` shows while a run goes: its state folded from the relayed
 * run events (the planner's own `evolveRun`), tokens so far, and the cost the
 * budget guard settled for it. Events arrive once each (JetStream dedupes),
 * but not in log order: a writer's fast-path copy of a later event can land
 * in the stream before the relay's copy of an earlier one, so run events are
 * held until their predecessors are in and applied in stream-version order.
 */
export class RunProgress {
  state: RunState = initialRunState();
  costMicros = 0;
  /** Run events applied so far (= the run stream's version reached). */
  version = 0;
  private readonly early = new Map<number, RunEvent>();

  constructor(private readonly runId: string) {}

  /** Take a relayed event; returns the run's own events it made applicable, in version order. */
  add(e: RelayedEvent): { version: number; event: RunEvent }[] {
    const event = upcastEvent(e.type, e.schemaVersion, e.data);
    if (e.streamId === streamIds.budget(this.runId) && event.type === 'BudgetSettled')
      this.costMicros += event.data.costMicros;
    if (e.streamId !== streamIds.run(this.runId) || e.streamVersion <= this.version) return [];
    this.early.set(e.streamVersion, event as RunEvent);
    const applied: { version: number; event: RunEvent }[] = [];
    for (
      let next = this.early.get(this.version + 1);
      next;
      next = this.early.get(this.version + 1)
    ) {
      this.early.delete(++this.version);
      this.state = evolveRun(this.state, next);
      applied.push({ version: this.version, event: next });
    }
    return applied;
  }

  /** One line: state, step, tokens, cost. */
  line(): string {
    const s = this.state;
    if (s.status === 'none') return 'waiting for the planner';
    const tokens = s.usage.inputTokens + s.usage.outputTokens;
    return (
      `${s.status.padEnd(14)} step ${s.step}/${s.limits.maxSteps}  ` +
      `tokens ${tokens}/${s.limits.maxTokens}  cost $${(this.costMicros / 1e6).toFixed(6)}`
    );
  }
}
