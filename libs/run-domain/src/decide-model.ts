import type { ModelDecision, ModelRole, RunEvent, Usage } from '@keel/contracts';
import {
  decideComplete,
  decideEarlyEnd,
  decideFailRun,
  decideSynthesized,
  synthesisShortfall,
} from './early-end';
import { evolveRun } from './evolve';
import type { ActiveRunState, RunState } from './run-state';

/** When a decision must wait for a person (configuration per environment). */
export interface ReviewPolicy {
  /** Off in development: only a model's own `ask_human` pauses a run. */
  readonly enabled: boolean;
  /** Decisions less confident than this pause for review. */
  readonly minConfidence: number;
  /** Calls to these tools always need a person's approval. */
  readonly highStakesTools: readonly string[];
}

/** What is known about one model call, recorded on its event. */
export interface CallFacts {
  readonly step: number;
  readonly attempt: number;
  readonly role: ModelRole;
  readonly provider: string;
  readonly model: string;
  readonly latencyMs: number;
}

export interface RecordDecision extends CallFacts {
  readonly decision: ModelDecision;
  readonly usage: Usage;
  readonly promptVersion: string;
  readonly toolVersions: Record<string, string>;
  readonly review: ReviewPolicy;
  /** The pool each tool runs in (from the registry). */
  readonly poolOf: (tool: string) => string;
}

const isDeciding = (s: RunState): s is ActiveRunState =>
  s.status === 'requested' || s.status === 'planning' || s.status === 'synthesizing';

/**
 * Record a validated decision and what follows from it: a pause for review,
 * tool calls, the answer, or (over the tool-call ceiling) a synthesis.
 */
export function decideModelDecision(state: RunState, cmd: RecordDecision): RunEvent[] {
  if (!isDeciding(state) || cmd.step !== state.step + 1) return [];
  const recorded: RunEvent = {
    type: 'ModelDecisionRecorded',
    data: {
      step: cmd.step,
      attempt: cmd.attempt,
      role: cmd.role,
      provider: cmd.provider,
      model: cmd.model,
      promptVersion: cmd.promptVersion,
      toolVersions: cmd.toolVersions,
      decision: cmd.decision,
      usage: cmd.usage,
      latencyMs: cmd.latencyMs,
    },
  };
  const after = evolveRun(state, recorded) as ActiveRunState;
  const gate = reviewGate(cmd.decision, cmd.review);
  if (gate) {
    return [
      recorded,
      {
        type: 'HumanReviewRequested',
        data: { step: cmd.step, ...gate, proposal: cmd.decision },
      },
    ];
  }
  return [recorded, ...proceed(after, cmd.decision, cmd.poolOf)];
}

function reviewGate(d: ModelDecision, policy: ReviewPolicy) {
  if (d.kind === 'ask_human')
    return { reason: 'model_asked' as const, detail: d.question, threshold: null };
  if (!policy.enabled) return undefined;
  if (d.confidence !== null && d.confidence < policy.minConfidence) {
    return {
      reason: 'low_confidence' as const,
      detail: `confidence ${d.confidence} is below ${policy.minConfidence}`,
      threshold: policy.minConfidence,
    };
  }
  if (d.kind === 'tool_calls') {
    const risky = [...new Set(d.calls.map((c) => c.tool))].filter((t) =>
      policy.highStakesTools.includes(t),
    );
    if (risky.length > 0) {
      return {
        reason: 'high_stakes_tool' as const,
        detail: `calls to ${risky.join(', ')} need a person's approval`,
        threshold: null,
      };
    }
  }
  return undefined;
}

/**
 * Carry out a decision that needs no (further) review. `state` is the run
 * with the decision already recorded.
 */
export function proceed(
  state: ActiveRunState,
  decision: ModelDecision,
  poolOf: (tool: string) => string,
): RunEvent[] {
  switch (decision.kind) {
    case 'final':
      return state.synthesis
        ? decideSynthesized(state, decision.answer)
        : decideComplete(state, decision.answer);
    case 'ask_human':
      return []; // always reviewed; never proceeds on its own
    case 'tool_calls': {
      const { limits } = state;
      if (state.toolCalls + decision.calls.length > limits.maxToolCalls) {
        const reason = {
          code: 'TOOL_CALL_LIMIT',
          message: `tool call limit ${limits.maxToolCalls} would be exceeded`,
          retryable: false,
        };
        return state.step < limits.maxSteps
          ? [
              {
                type: 'SynthesisStarted',
                data: { step: state.step + 1, reason: 'tool_call_limit' },
              },
            ]
          : decideEarlyEnd(state, reason);
      }
      const step = state.step;
      return decision.calls.map((c, i): RunEvent => ({
        type: 'ToolCallRequested',
        data: {
          step,
          callId: c.callId,
          tool: c.tool,
          pool: poolOf(c.tool),
          input: c.input,
          idempotencyKey: `${state.runId}:${step}:${i}`,
        },
      }));
    }
  }
}

export interface ModelFailure extends CallFacts {
  readonly code: string;
  readonly errorClass: 'transient' | 'permanent' | 'quota';
  readonly message: string;
  readonly status?: number;
  readonly retryAfterMs?: number;
  /** From the retry policy: when to try again, or why not. */
  readonly retry: { retry: true; delayMs: number } | { retry: false; reason: string };
}

/**
 * A failed attempt, recorded — nothing is retried invisibly. A transient
 * failure with attempts left waits for the retry; a permanent one fails the
 * run; a quota failure fails it with `MODEL_QUOTA` (the planner alerts); a
 * transient one out of attempts ends the run with what it has.
 */
export function decideModelFailure(state: RunState, f: ModelFailure): RunEvent[] {
  if (!isDeciding(state) || f.step !== state.step + 1) return [];
  const retryInMs = f.errorClass === 'transient' && f.retry.retry ? f.retry.delayMs : null;
  const failed: RunEvent = {
    type: 'ModelCallFailed',
    data: {
      step: f.step,
      attempt: f.attempt,
      role: f.role,
      provider: f.provider,
      model: f.model,
      code: f.code,
      errorClass: f.errorClass,
      message: f.message,
      ...(f.status !== undefined ? { status: f.status } : {}),
      ...(f.retryAfterMs !== undefined ? { retryAfterMs: Math.round(f.retryAfterMs) } : {}),
      retryInMs: retryInMs === null ? null : Math.round(retryInMs),
      latencyMs: f.latencyMs,
    },
  };
  if (retryInMs !== null) return [failed];
  const after = evolveRun(state, failed) as ActiveRunState;
  switch (f.errorClass) {
    case 'quota':
      return [
        failed,
        ...decideFailRun(after, { code: 'MODEL_QUOTA', message: f.message, retryable: false }),
      ];
    case 'permanent':
      return [
        failed,
        ...decideFailRun(after, { code: f.code, message: f.message, retryable: false }),
      ];
    case 'transient': {
      const why = f.retry.retry ? '' : `: ${f.retry.reason}`;
      const reason = {
        code: 'MODEL_UNAVAILABLE',
        message: `model call failed ${f.attempt} times (last ${f.code})${why}`,
        retryable: false,
      };
      return [failed, ...decideEarlyEnd(after, reason)];
    }
  }
}

export interface RejectedOutput extends CallFacts {
  readonly issues: string[];
  readonly output: string;
  readonly usage: Usage;
  /** Replies per step that may fail validation before the step fails. */
  readonly maxInvalidOutputs: number;
  /** What a step that keeps failing validation leads to. */
  readonly escalation: 'review' | 'dead_letter';
}

/**
 * A reply that failed validation: recorded with its exact issues, and
 * re-prompted; after `maxInvalidOutputs` the step fails `STRUCTURED_OUTPUT_INVALID`
 * and the run escalates to a person or fails (a synthesis ends with what it has).
 */
export function decideOutputRejected(state: RunState, r: RejectedOutput): RunEvent[] {
  if (!isDeciding(state) || r.step !== state.step + 1) return [];
  const rejected: RunEvent = {
    type: 'ModelOutputRejected',
    data: {
      step: r.step,
      attempt: r.attempt,
      role: r.role,
      provider: r.provider,
      model: r.model,
      issues: r.issues,
      output: r.output,
      usage: r.usage,
      latencyMs: r.latencyMs,
    },
  };
  const after = evolveRun(state, rejected) as ActiveRunState;
  if (after.attempts.rejected.length < r.maxInvalidOutputs) return [rejected];
  const error = {
    code: 'STRUCTURED_OUTPUT_INVALID',
    message:
      `model output failed validation ${r.maxInvalidOutputs} times: ${r.issues.join('; ')}`.slice(
        0,
        2000,
      ),
    retryable: false,
  };
  if (after.synthesis) {
    // The synthesis could not produce a valid answer: end with the deterministic summary.
    const shortfall = synthesisShortfall(after);
    const reason = shortfall
      ? { ...shortfall, message: `${shortfall.message}; the synthesis reply failed validation` }
      : error;
    return [rejected, ...decideEarlyEnd(after, reason)];
  }
  if (r.escalation === 'dead_letter') return [rejected, ...decideFailRun(after, error)];
  return [
    rejected,
    {
      type: 'HumanReviewRequested',
      data: {
        step: r.step,
        reason: 'structured_output_invalid',
        detail: error.message,
        proposal: null,
        threshold: null,
      },
    },
  ];
}
