import type { RunEvent } from '@keel/contracts';
import { evolveRun } from '../evolve';
import { initialRunState, type RunState } from '../run-state';
import { diffValues, type FieldChange } from './state-diff';

/** One event of a run's stream as read back: its 1-based stream version and the event. */
export interface RecordedRunEvent {
  readonly version: number;
  readonly event: RunEvent;
}

/** The run's state after event `version`, with what that event changed. */
export interface ReplayStep {
  readonly version: number;
  readonly type: RunEvent['type'];
  readonly state: RunState;
  readonly changes: readonly FieldChange[];
}

export class ReplayRangeError extends Error {
  override name = 'ReplayRangeError';
}

/**
 * Fold the recorded events one by one with `evolveRun`, keeping every
 * intermediate state (time travel) and the field-level change each event made.
 * `to` stops after event `to` (1-based, inclusive); out of range throws
 * `ReplayRangeError`. The stream must be gapless from version 1.
 */
export function replaySteps(events: readonly RecordedRunEvent[], to?: number): ReplayStep[] {
  const last = checkedEnd(events, to);
  const steps: ReplayStep[] = [];
  let state = initialRunState();
  for (const { version, event } of events.slice(0, last)) {
    const next = evolveRun(state, event);
    steps.push({ version, type: event.type, state: next, changes: diffValues(state, next) });
    state = next;
  }
  return steps;
}

/** The run's state after event `to` (default: the last one). */
export function stateAt(events: readonly RecordedRunEvent[], to?: number): RunState {
  const last = checkedEnd(events, to);
  return events.slice(0, last).reduce((s, e) => evolveRun(s, e.event), initialRunState());
}

function checkedEnd(events: readonly RecordedRunEvent[], to: number | undefined): number {
  events.forEach((e, i) => {
    if (e.version !== i + 1)
      throw new ReplayRangeError(`stream has a gap: event ${i + 1} has version ${e.version}`);
  });
  if (to === undefined) return events.length;
  if (!Number.isInteger(to) || to < 1 || to > events.length)
    throw new ReplayRangeError(
      `event ${to} is out of range: the run has ${events.length} event${events.length === 1 ? '' : 's'} (1..${events.length})`,
    );
  return to;
}
