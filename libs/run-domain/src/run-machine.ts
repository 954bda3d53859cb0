import type { RunEventType } from '@keel/contracts';
import type { RunStatus } from './run-state';

/**
 * The run state machine, declared once: every (from, event, to) that may be
 * recorded. `evolveRun` computes where an event leads and refuses anything
 * not listed here with `InvalidTransitionError`, so an invalid transition can
 * neither be written (the planner folds before it appends) nor read back.
 * docs/planner.md shows this table as a diagram (`renderRunMachineMermaid`).
 */

export type FromStatus = RunStatus | 'none';

export interface RunTransition {
  readonly from: FromStatus;
  readonly on: RunEventType;
  readonly to: RunStatus;
}

/** States where the planner is about to ask the model. */
const DECIDING = ['requested', 'planning', 'synthesizing'] as const;
const ACTIVE = [...DECIDING, 'awaiting_tools', 'awaiting_human'] as const;

const t = (from: FromStatus, on: RunEventType, to: RunStatus): RunTransition => ({ from, on, to });

export const RUN_TRANSITIONS: readonly RunTransition[] = [
  t('none', 'RunRequested', 'requested'),
  // Facts of a model step: failed attempts, rejected outputs, the decision.
  ...DECIDING.flatMap((s) => [
    t(s, 'ModelCallFailed', s),
    t(s, 'ModelOutputRejected', s),
    t(s, 'ModelDecisionRecorded', s),
    t(s, 'HumanReviewRequested', 'awaiting_human'),
    t(s, 'RunCompleted', 'completed'),
  ]),
  t('requested', 'SynthesisStarted', 'synthesizing'),
  t('planning', 'SynthesisStarted', 'synthesizing'),
  // An approved proposal over the tool-call ceiling leads to a synthesis too.
  t('awaiting_human', 'SynthesisStarted', 'synthesizing'),
  // Tool rounds: calls requested at once, joined when every outcome is in.
  t('requested', 'ToolCallRequested', 'awaiting_tools'),
  t('planning', 'ToolCallRequested', 'awaiting_tools'),
  t('awaiting_tools', 'ToolCallRequested', 'awaiting_tools'),
  t('awaiting_tools', 'ToolResultRecorded', 'awaiting_tools'),
  t('awaiting_tools', 'ToolResultRecorded', 'planning'),
  // Human checkpoints: a decision leads on in the same commit, or back to planning.
  t('awaiting_human', 'HumanReviewDecided', 'awaiting_human'),
  t('awaiting_human', 'HumanReviewDecided', 'planning'),
  t('awaiting_human', 'HumanReviewDecided', 'synthesizing'),
  t('awaiting_human', 'ToolCallRequested', 'awaiting_tools'),
  t('awaiting_human', 'RunCompleted', 'completed'),
  // Endings reachable from any active state.
  ...ACTIVE.flatMap((s) => [
    t(s, 'RunFailed', 'failed'),
    t(s, 'RunDegraded', 'degraded'),
    t(s, 'RunCancelled', 'cancelled'),
    t(s, 'RunTimedOut', 'timed_out'),
  ]),
];

const allowed = new Set(RUN_TRANSITIONS.map((x) => `${x.from}|${x.on}|${x.to}`));

export const isAllowedTransition = (from: FromStatus, on: RunEventType, to: RunStatus): boolean =>
  allowed.has(`${from}|${on}|${to}`);

export class InvalidTransitionError extends Error {
  override name = 'InvalidTransitionError';
  readonly code = 'INVALID_TRANSITION';
  constructor(
    readonly from: FromStatus,
    readonly on: string,
    readonly to: string | undefined,
    runId: string | undefined,
  ) {
    super(
      `run ${runId ?? '?'}: ${on} is not allowed in state '${from}'` +
        (to ? ` (it would lead to '${to}')` : ''),
    );
  }
}

/** The machine as a Mermaid state diagram: one edge per (from, to), labelled with its events. */
export function renderRunMachineMermaid(): string {
  const edges = new Map<string, string[]>();
  for (const x of RUN_TRANSITIONS) {
    if (x.from === x.to) continue; // facts recorded within a state
    const key = `${x.from === 'none' ? '[*]' : x.from} --> ${x.to}`;
    edges.set(key, [...(edges.get(key) ?? []), x.on]);
  }
  const finals = ['completed', 'degraded', 'failed', 'cancelled', 'timed_out'];
  return [
    'stateDiagram-v2',
    ...[...edges].map(([edge, on]) => `  ${edge}: ${on.join(', ')}`),
    ...finals.map((s) => `  ${s} --> [*]`),
  ].join('\n');
}
