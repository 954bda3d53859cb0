import type { ErrorInfo, RunEvent } from '@keel/contracts';
import { decideCancel, decideReview } from '../decide-commands';
import { decideModelDecision, decideModelFailure, decideOutputRejected } from '../decide-model';
import { decideToolOutcome } from '../decide-tools';
import { decideEarlyEnd } from '../early-end';
import { nextAction } from '../next-action';
import type { ActiveRunState } from '../run-state';

/**
 * The budget guard's answer to a step's reservation, as far as the run is
 * concerned: go on, go on but synthesize (warning), or stop (exhausted).
 */
export type GrantVerdict =
  | { readonly status: 'granted'; readonly warning: boolean }
  | { readonly status: 'exhausted'; readonly reason: ErrorInfo };

/**
 * What the planner records for a grant before it calls the model. Mirrors
 * `ModelStep.run` in apps/planner/src/model-step.ts (exhausted → end with what
 * the run has; a warning outside a synthesis → `SynthesisStarted`), which is
 * which calls it.
 */
export function decideGrant(state: ActiveRunState, step: number, grant: GrantVerdict): RunEvent[] {
  if (grant.status === 'exhausted') return decideEarlyEnd(state, grant.reason);
  if (grant.warning && state.status !== 'synthesizing')
    return [{ type: 'SynthesisStarted', data: { step, reason: 'budget_warning' } }];
  return [];
}

/**
 * Every pure decision the planner makes, by name: what `keel replay --check`
 * re-runs against a recorded run. A test passes a changed one to prove a
 * divergence is found and named.
 */
export interface PlannerDeciders {
  readonly nextAction: typeof nextAction;
  readonly modelDecision: typeof decideModelDecision;
  readonly modelFailure: typeof decideModelFailure;
  readonly outputRejected: typeof decideOutputRejected;
  readonly toolOutcome: typeof decideToolOutcome;
  readonly review: typeof decideReview;
  readonly cancel: typeof decideCancel;
  readonly grant: typeof decideGrant;
}

/** Today's code: the deciders the planner runs. */
export const PLANNER_DECIDERS: PlannerDeciders = {
  nextAction,
  modelDecision: decideModelDecision,
  modelFailure: decideModelFailure,
  outputRejected: decideOutputRejected,
  toolOutcome: decideToolOutcome,
  review: decideReview,
  cancel: decideCancel,
  grant: decideGrant,
};
