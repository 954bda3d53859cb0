import type { RunEvent } from '@keel/contracts';
import { evolveRun, initialRunState, type RunState } from '@keel/run-domain';
import type { AggregateSpec } from '@keel/runtime';

export const runAggregate: AggregateSpec<RunState, RunEvent> = {
  initial: initialRunState,
  evolve: evolveRun,
};
