import type { ErrorInfo, ModelDecision, ToolOutcome, Usage } from '@keel/contracts';

/**
 * The state of one run, folded from its stream. A union on `status`, so a
 * state that cannot exist cannot be written down.
 */

export const RunStatus = {
  Planning: 'planning',
  AwaitingTools: 'awaiting_tools',
  Completed: 'completed',
  Failed: 'failed',
} as const;
export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];

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
    }
  | {
      readonly kind: 'tool_result';
      readonly callId: string;
      readonly tool: string;
      readonly outcome: ToolOutcome;
    };

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
    readonly deadlineAt: string;
  };
  /** Model decisions recorded so far. */
  readonly step: number;
  readonly toolCalls: number;
  readonly usage: Usage;
  readonly history: readonly HistoryEntry[];
}

export type RunState =
  | { readonly status: 'none' }
  | (RunCore & { readonly status: typeof RunStatus.Planning })
  | (RunCore & {
      readonly status: typeof RunStatus.AwaitingTools;
      readonly pending: readonly PendingCall[];
      /** The decision said its calls' results are the run's result. */
      readonly final: boolean;
      /** Some call of this round failed (so a final round goes back to the model). */
      readonly roundFailed: boolean;
    })
  | (RunCore & { readonly status: typeof RunStatus.Completed; readonly answer: string })
  | (RunCore & { readonly status: typeof RunStatus.Failed; readonly error: ErrorInfo });

export type ActiveRunState = Exclude<RunState, { status: 'none' }>;

export const initialRunState = (): RunState => ({ status: 'none' });

export const isFinal = (s: RunState): boolean => s.status === 'completed' || s.status === 'failed';
