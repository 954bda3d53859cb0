import { metrics } from '@opentelemetry/api';
import type { RunEvent } from '@keel/contracts';
import { isFinal, type ActiveRunState } from '@keel/run-domain';

const meter = metrics.getMeter('keel-planner');

/**
 * Run metrics for Prometheus (when `KEEL_METRICS_PORT` is set), per tenant —
 * not per run: run ids would make unbounded label sets; a run's own figures
 * are in its stream (`keel runs show`).
 */
const steps = meter.createCounter('keel.run.steps', {
  description: 'Model decisions recorded, by tenant',
});
const toolCalls = meter.createCounter('keel.run.tool_calls', {
  description: 'Tool calls requested, by tenant',
});
const ended = meter.createCounter('keel.run.ended', {
  description: 'Runs that reached a final state, by tenant and status',
});

/** Count what one commit recorded (called once per committed batch). */
export function countCommitted(after: ActiveRunState, events: readonly RunEvent[]): void {
  const tenant = after.tenant;
  let decided = 0;
  let requested = 0;
  for (const e of events) {
    if (e.type === 'ModelDecisionRecorded') decided++;
    else if (e.type === 'ToolCallRequested') requested++;
  }
  if (decided > 0) steps.add(decided, { tenant });
  if (requested > 0) toolCalls.add(requested, { tenant });
  if (isFinal(after)) ended.add(1, { tenant, status: after.status });
}
