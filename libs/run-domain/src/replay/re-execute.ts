import type { ErrorInfo, RunEvent } from '@keel/contracts';
import type { CallFacts, ReviewPolicy } from '../decide-model';
import { evolveRun } from '../evolve';
import { initialRunState, type ActiveRunState, type RunState } from '../run-state';
import { PLANNER_DECIDERS, type PlannerDeciders } from './planner-deciders';
import type { RecordedRunEvent } from './rebuild';
import { canonicalJson, diffValues, type FieldChange } from './state-diff';

/** The planner's configuration that shapes its decisions (the same env as the planner's). */
export interface ReplayPolicy {
  readonly review: ReviewPolicy;
  readonly maxInvalidOutputs: number;
  readonly invalidOutputEscalation: 'review' | 'dead_letter';
  /** The pool of each tool; default: the pools recorded on the run's own tool calls, else `default`. */
  readonly poolOf?: (tool: string) => string;
}

/** The first event where today's code decides differently from what was recorded. */
export interface Divergence {
  /** Stream version of the recorded event that differs (length + 1: the recording lacks one). */
  readonly eventNumber: number;
  /** What today's code records here; null when it records nothing (or refuses the input). */
  readonly expected: RunEvent | null;
  /** What was recorded here; null when the recording ends. */
  readonly recorded: RunEvent | null;
  /** The differing fields when both are the same type of event. */
  readonly changes: readonly FieldChange[];
  readonly why: string;
}

export interface CheckReport {
  /** Planner reactions re-derived (an input and what today's code records for it). */
  readonly decisions: number;
  /** Recorded events compared (the run's whole stream when nothing diverges). */
  readonly checkedEvents: number;
  readonly divergence?: Divergence;
}

/**
 * Deterministic re-execution of one run. The recorded facts from outside the
 * planner are the inputs — the request, model replies (`ModelDecisionRecorded`,
 * `ModelOutputRejected`, `ModelCallFailed`), tool outcomes, people's commands,
 * the budget guard's answers and the clock passing the deadline — and each is
 * handed to today's deciders (`deciders`, default the planner's) in the state
 * folded from the recorded stream so far. What they return must be exactly
 * what was recorded next. The model and tools are never called. Pure.
 */
export function checkRun(
  events: readonly RecordedRunEvent[],
  policy: ReplayPolicy,
  deciders: PlannerDeciders = PLANNER_DECIDERS,
): CheckReport {
  const poolOf = policy.poolOf ?? recordedPools(events);
  let state: RunState = initialRunState();
  let decisions = 0;
  let expected: RunEvent[] = [];
  for (let i = 0; i < events.length; i++) {
    const { version, event } = events[i]!;
    if (expected.length === 0) {
      const derived = derive(state, event, events[i + 1]?.event, { policy, poolOf, deciders });
      if ('why' in derived)
        return diverged(i, decisions, { eventNumber: version, recorded: event, ...derived });
      if (event.type !== 'RunRequested') decisions++;
      expected = derived.events;
    }
    const next = expected.shift()!;
    if (canonicalJson(strip(next)) !== canonicalJson(strip(event))) {
      return diverged(i, decisions, {
        eventNumber: version,
        expected: next,
        recorded: event,
        changes: next.type === event.type ? diffValues(next.data, event.data) : [],
        why:
          next.type === event.type
            ? `today's code records ${next.type} with different fields`
            : `today's code records ${next.type} where ${event.type} was recorded`,
      });
    }
    state = evolveRun(state, event);
  }
  const more = expected.length > 0 ? expected : pendingRecords(state, deciders);
  if (more.length > 0) {
    return diverged(events.length, decisions, {
      eventNumber: events.length + 1,
      expected: more[0]!,
      recorded: null,
      changes: [],
      why: `today's code also records ${more[0]!.type}, which the recording lacks`,
    });
  }
  return { decisions, checkedEvents: events.length };
}

interface Ctx {
  readonly policy: ReplayPolicy;
  readonly poolOf: (tool: string) => string;
  readonly deciders: PlannerDeciders;
}

type Derived =
  | { readonly events: RunEvent[] }
  | { readonly expected: RunEvent | null; readonly changes: FieldChange[]; readonly why: string };

const refusal = (why: string): Derived => ({ expected: null, changes: [], why });

/** What today's code records, starting with `event`, given the input `event` carries. */
function derive(
  state: RunState,
  event: RunEvent,
  following: RunEvent | undefined,
  ctx: Ctx,
): Derived {
  const { deciders, poolOf } = ctx;
  if (state.status === 'none') {
    // The request is the first input; its limits came from the deployment's defaults and clock.
    return event.type === 'RunRequested'
      ? { events: [event] }
      : refusal(`${event.type} before RunRequested`);
  }
  // Inputs that arrive whatever the planner was about to do: commands and the deadline.
  if (event.type === 'RunCancelled') {
    const d = event.data;
    const v = deciders.cancel(state, {
      runId: state.runId,
      tenant: state.tenant,
      reason: d.reason,
      requestedBy: d.by,
    });
    return v.kind === 'refused'
      ? refusal(`today's code refuses the cancel: ${v.message}`)
      : nonEmpty(v.events, 'the cancel');
  }
  if (event.type === 'HumanReviewDecided') {
    const d = event.data;
    const base = {
      runId: state.runId,
      tenant: state.tenant,
      step: d.step,
      reviewId: d.reviewId,
      reviewer: d.reviewer,
    };
    const cmd =
      d.decision === 'reject'
        ? { ...base, decision: 'reject' as const, reason: d.reason ?? '' }
        : d.decision === 'modify' && d.changes
          ? { ...base, decision: 'modify' as const, changes: d.changes }
          : { ...base, decision: 'approve' as const };
    const v = deciders.review(state, cmd, poolOf);
    return v.kind === 'refused'
      ? refusal(`today's code refuses the review decision: ${v.message}`)
      : nonEmpty(v.events, 'the review decision');
  }
  if (isDeadlineEnding(event)) {
    const a = deciders.nextAction(state, new Date(Date.parse(state.limits.deadlineAt)));
    return a.kind === 'record'
      ? { events: a.events }
      : refusal(`today's code does not end the run at its deadline (next: ${a.kind})`);
  }
  const action = deciders.nextAction(state, beforeDeadline(state));
  switch (action.kind) {
    case 'finished':
      return refusal(`the run is ${state.status}: today's code records nothing more`);
    case 'record':
      return { events: action.events };
    case 'wait_for_tools':
      if (event.type !== 'ToolResultRecorded')
        return refusal(`today's code waits for tool outcomes here, not ${event.type}`);
      return nonEmpty(
        deciders.toolOutcome(state, { callId: event.data.callId, outcome: event.data.outcome }),
        `the outcome of call ${event.data.callId}`,
      );
    case 'wait_for_human':
      return refusal(`today's code waits for a review decision here, not ${event.type}`);
    case 'call_model':
      return modelStep(state, action.step, action.synthesis, event, following, ctx);
  }
}

/** A model step's recorded outcome (or the guard's answer before it), decided again. */
function modelStep(
  state: ActiveRunState,
  step: number,
  synthesis: boolean,
  event: RunEvent,
  following: RunEvent | undefined,
  { deciders, policy, poolOf }: Ctx,
): Derived {
  const role = synthesis ? 'synthesis' : 'reasoning';
  const exhausted = budgetExhausted(event);
  if (exhausted)
    return nonEmpty(
      deciders.grant(state, step, { status: 'exhausted', reason: exhausted }),
      'an exhausted budget',
    );
  if (event.type === 'SynthesisStarted' && event.data.reason === 'budget_warning')
    return nonEmpty(
      deciders.grant(state, step, { status: 'granted', warning: true }),
      'a budget warning',
    );
  const facts = (d: CallFacts): CallFacts => ({
    step,
    attempt: d.attempt,
    role,
    provider: d.provider,
    model: d.model,
    latencyMs: d.latencyMs,
  });
  switch (event.type) {
    case 'ModelDecisionRecorded': {
      const d = event.data;
      return nonEmpty(
        deciders.modelDecision(state, {
          ...facts(d),
          decision: d.decision,
          usage: d.usage,
          promptVersion: d.promptVersion,
          toolVersions: d.toolVersions,
          review: policy.review,
          poolOf,
        }),
        `the model's decision for step ${d.step}`,
      );
    }
    case 'ModelOutputRejected': {
      const d = event.data;
      return nonEmpty(
        deciders.outputRejected(state, {
          ...facts(d),
          issues: d.issues,
          output: d.output,
          usage: d.usage,
          maxInvalidOutputs: policy.maxInvalidOutputs,
          escalation: policy.invalidOutputEscalation,
        }),
        `the rejected output of step ${d.step}`,
      );
    }
    case 'ModelCallFailed': {
      const d = event.data;
      return nonEmpty(
        deciders.modelFailure(state, {
          ...facts(d),
          code: d.code,
          errorClass: d.errorClass,
          message: d.message,
          ...(d.status !== undefined ? { status: d.status } : {}),
          ...(d.retryAfterMs !== undefined ? { retryAfterMs: d.retryAfterMs } : {}),
          retry: retryVerdict(d, following),
        }),
        `the failed call of step ${d.step}`,
      );
    }
    default:
      return refusal(
        `today's code calls the model for step ${step}${synthesis ? ' (synthesis)' : ''} here, not ${event.type}`,
      );
  }
}

/**
 * The retry policy's verdict on a failed call is an input (configuration and
 * jitter): a recorded delay means it retried; no delay on a transient failure
 * means it gave up, with the reason the run's ending recorded.
 */
function retryVerdict(
  d: Extract<RunEvent, { type: 'ModelCallFailed' }>['data'],
  following: RunEvent | undefined,
): { retry: true; delayMs: number } | { retry: false; reason: string } {
  if (d.retryInMs !== null) return { retry: true, delayMs: d.retryInMs };
  const message = following ? endingReason(following)?.message : undefined;
  const head = `model call failed ${d.attempt} times (last ${d.code}): `;
  return { retry: false, reason: message?.startsWith(head) ? message.slice(head.length) : '' };
}

function nonEmpty(events: RunEvent[], what: string): Derived {
  return events.length > 0 ? { events } : refusal(`today's code records nothing for ${what}`);
}

function endingReason(e: RunEvent): ErrorInfo | undefined {
  if (e.type === 'RunDegraded') return e.data.reason;
  if (e.type === 'RunFailed') return e.data.error;
  return undefined;
}

const budgetExhausted = (e: RunEvent): ErrorInfo | undefined => {
  const r = endingReason(e);
  return r?.code === 'BUDGET_EXHAUSTED' ? r : undefined;
};

const isDeadlineEnding = (e: RunEvent) =>
  e.type === 'RunTimedOut' || endingReason(e)?.code === 'DEADLINE';

/** A clock that has not reached the deadline: the deadline is an input, recorded when it fired. */
const beforeDeadline = (s: ActiveRunState) => new Date(Date.parse(s.limits.deadlineAt) - 1);

/** Events today's code would record on its own after the last recorded one. */
function pendingRecords(state: RunState, deciders: PlannerDeciders): RunEvent[] {
  if (state.status === 'none') return [];
  const a = deciders.nextAction(state, beforeDeadline(state));
  return a.kind === 'record' ? a.events : [];
}

/** Only what the decision is: type and data (metadata and versions are not decisions). */
const strip = (e: RunEvent) => ({ type: e.type, data: e.data });

function recordedPools(events: readonly RecordedRunEvent[]): (tool: string) => string {
  const pools = new Map<string, string>();
  for (const { event } of events)
    if (event.type === 'ToolCallRequested') pools.set(event.data.tool, event.data.pool);
  return (tool) => pools.get(tool) ?? 'default';
}

function diverged(checked: number, decisions: number, divergence: Divergence): CheckReport {
  return { decisions, checkedEvents: checked, divergence };
}
