import type {
  ErrorInfo,
  ModelDecision,
  ReviewChanges,
  ReviewReason,
  SynthesisReason,
  ToolOutcome,
  Usage,
} from '@keel/contracts';

/**
 * The state of one run, folded from its stream. A union on `status`, so a
 * state that cannot exist cannot be written down; which event may move which
 * status where is declared once, in `run-machine.ts`.
 */

export const RunStatus = {
  Requested: 'requested',
  Planning: 'planning',
  Synthesizing: 'synthesizing',
  AwaitingTools: 'awaiting_tools',
  AwaitingHuman: 'awaiting_human',
  Completed: 'completed',
  Degraded: 'degraded',
  Failed: 'failed',
  Cancelled: 'cancelled',
  TimedOut: 'timed_out',
} as const;
export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];

export const FINAL_STATUSES: ReadonlySet<string> = new Set([
  RunStatus.Completed,
  RunStatus.Degraded,
  RunStatus.Failed,
  RunStatus.Cancelled,
  RunStatus.TimedOut,
]);

export interface PendingCall {
  readonly callId: string;
  readonly tool: string;
  readonly step: number;
}

/** What the model has seen and done so far, in order: the basis of the next prompt. */
export type HistoryEntry =
  | {
      readonly kind: 'decision';
      readonly step: number;
      readonly decision: ModelDecision;
      readonly usage: Usage;
      /** The model that answered (what the step's tokens are priced by). */
      readonly model: string;
      /** The whole step's tokens: this reply and the rejected ones before it (what the budget settles). */
      readonly stepUsage: Usage;
    }
  | {
      readonly kind: 'tool_result';
      readonly callId: string;
      readonly tool: string;
      readonly outcome: ToolOutcome;
    }
  | {
      readonly kind: 'review';
      readonly step: number;
      readonly reviewId: string;
      readonly decision: 'approve' | 'reject' | 'modify';
      readonly changes?: ReviewChanges;
    };

/** The current step's failed attempts; cleared when its decision is recorded. */
export interface StepAttempts {
  /** Failed calls (`ModelCallFailed`). */
  readonly failures: number;
  /** Replies that failed validation, shown to the model on the re-prompt. */
  readonly rejected: readonly {
    readonly output: string;
    readonly issues: readonly string[];
    readonly usage: Usage;
  }[];
}

export interface RunCore {
  readonly runId: string;
  readonly tenant: string;
  readonly requestId: string;
  readonly prompt: string;
  readonly tools: readonly string[];
  readonly limits: {
    readonly maxSteps: number;
    readonly maxToolCalls: number;
    readonly maxTokens: number;
    readonly maxInputTokens?: number;
    readonly maxOutputTokens?: number;
    readonly maxCostUsd?: number;
    readonly deadlineAt: string;
  };
  /** Model decisions recorded so far (the last step's number). */
  readonly step: number;
  readonly toolCalls: number;
  /** Tokens of every call that returned, valid or not. */
  readonly usage: Usage;
  readonly history: readonly HistoryEntry[];
  readonly attempts: StepAttempts;
  /** Set once the run must answer from what it has (see `SynthesisStarted`). */
  readonly synthesis?: SynthesisReason;
}

export interface PendingReview {
  readonly step: number;
  readonly reason: ReviewReason;
  readonly proposal: ModelDecision | null;
  /** A decision was recorded; its consequences follow in the same commit. */
  readonly decided: boolean;
}

export type RunState =
  | { readonly status: 'none' }
  | (RunCore & { readonly status: typeof RunStatus.Requested })
  | (RunCore & { readonly status: typeof RunStatus.Planning })
  | (RunCore & { readonly status: typeof RunStatus.Synthesizing })
  | (RunCore & {
      readonly status: typeof RunStatus.AwaitingTools;
      readonly pending: readonly PendingCall[];
      /** The decision said its calls' results are the run's result. */
      readonly final: boolean;
      /** Some call of this round failed (so a final round goes back to the model). */
      readonly roundFailed: boolean;
    })
  | (RunCore & { readonly status: typeof RunStatus.AwaitingHuman; readonly review: PendingReview })
  | (RunCore & { readonly status: typeof RunStatus.Completed; readonly answer: string })
  | (RunCore & {
      readonly status: typeof RunStatus.Degraded;
      readonly answer: string;
      readonly reason: ErrorInfo;
    })
  | (RunCore & { readonly status: typeof RunStatus.Failed; readonly error: ErrorInfo })
  | (RunCore & { readonly status: typeof RunStatus.Cancelled; readonly reason: string })
  | (RunCore & { readonly status: typeof RunStatus.TimedOut });

export type ActiveRunState = Exclude<RunState, { status: 'none' }>;
export type StateOf<S extends RunState['status']> = Extract<RunState, { status: S }>;

export const initialRunState = (): RunState => ({ status: 'none' });

export const isFinal = (s: RunState): boolean => FINAL_STATUSES.has(s.status);

/** The fields every active state shares, without the status-specific ones. */
export function coreOf(state: RunState): RunCore {
  if (state.status === 'none') throw new Error('run event before RunRequested');
  const {
    runId,
    tenant,
    requestId,
    prompt,
    tools,
    limits,
    step,
    toolCalls,
    usage,
    history,
    attempts,
    synthesis,
  } = state;
  return {
    runId,
    tenant,
    requestId,
    prompt,
    tools,
    limits,
    step,
    toolCalls,
    usage,
    history,
    attempts,
    ...(synthesis ? { synthesis } : {}),
  };
}
