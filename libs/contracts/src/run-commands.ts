import { z } from 'zod';
import { ReviewChanges } from './events/run-events';
import { TenantId } from './run-request';

/**
 * Operator commands on a run (core NATS request/reply, answered by a planner
 * replica after its events are committed). The tenant must match the run's:
 * a command for another tenant's run is answered `NOT_FOUND`, like a run that
 * does not exist.
 */

const RunRef = { runId: z.string().uuid(), tenant: TenantId };

export const ReviewDecisionCommand = z.discriminatedUnion('decision', [
  z.object({ ...RunRef, ...reviewFields(), decision: z.literal('approve') }).strict(),
  z
    .object({
      ...RunRef,
      ...reviewFields(),
      decision: z.literal('reject'),
      reason: z.string().min(1).max(2000),
    })
    .strict(),
  z
    .object({ ...RunRef, ...reviewFields(), decision: z.literal('modify'), changes: ReviewChanges })
    .strict(),
]);
export type ReviewDecisionCommand = z.infer<typeof ReviewDecisionCommand>;

function reviewFields() {
  return {
    /** The step under review (from `HumanReviewRequested`): a decision for another step is refused. */
    step: z.number().int().min(1),
    /** Idempotency key of this decision: repeating the command is answered, not applied twice. */
    reviewId: z.string().min(1).max(200),
    reviewer: z.string().min(1).max(200),
  };
}

export const CancelRunCommand = z
  .object({
    ...RunRef,
    reason: z.string().min(1).max(2000),
    requestedBy: z.string().min(1).max(200),
  })
  .strict();
export type CancelRunCommand = z.infer<typeof CancelRunCommand>;

/** Why a command was refused; stable codes callers may branch on (the API maps them to 404/409). */
export const CommandRefusal = z.enum([
  'NOT_FOUND',
  /** The run is not waiting for a review (or is waiting on another step). */
  'NOT_AWAITING_REVIEW',
  /** The decision does not fit the proposal (e.g. new inputs for a final answer). */
  'INVALID_DECISION',
  /** The run already ended. */
  'RUN_FINISHED',
]);
export type CommandRefusal = z.infer<typeof CommandRefusal>;

export const RunCommandReply = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('accepted'),
    runStatus: z.string(),
    /** The same command was applied before; nothing new was recorded. */
    duplicate: z.boolean(),
  }),
  z.object({ status: z.literal('refused'), code: CommandRefusal, message: z.string() }),
  z.object({ status: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type RunCommandReply = z.infer<typeof RunCommandReply>;
