import type { NatsConnection } from 'nats';
import type { z } from 'zod';
import {
  CancelRunCommand,
  ReviewDecisionCommand,
  RunCommandReply,
  uuidv7,
  type KeelNames,
} from '@keel/contracts';
import { requestJson } from '@keel/messaging';
import type { ApiPrincipal } from '@keel/projections/store';
import { ApiError, ApiErrorCode } from '../http/api-error';
import { parseInput } from '../http/validate';
import type { CancelBody, CommandResponse, ReviewBody } from '../schemas';

export interface CommandDeps {
  readonly nc: NatsConnection;
  readonly names: KeelNames;
  readonly timeoutMs: number;
}

/**
 * Review decisions and cancellations are the planner's commands
 * (`<prefix>.cmd.run.review|cancel`, answered after its events commit); the
 * API forwards them and maps the planner's refusal codes to HTTP.
 */
export async function reviewRun(
  deps: CommandDeps,
  who: ApiPrincipal,
  run: { runId: string; tenant: string },
  step: number,
  body: z.infer<typeof ReviewBody>,
  idempotencyKey: string | undefined,
): Promise<z.infer<typeof CommandResponse>> {
  const { reviewer, reviewId, ...decision } = body;
  const command = parseInput(
    ReviewDecisionCommand,
    {
      ...decision,
      runId: run.runId,
      tenant: run.tenant,
      step,
      reviewId: reviewId ?? idempotencyKey ?? `api-${uuidv7()}`,
      reviewer: reviewer ?? `api-key:${who.keyId}`,
    },
    'review decision',
  );
  return send(deps, deps.names.subjects.runReview.build(), command);
}

export async function cancelRun(
  deps: CommandDeps,
  who: ApiPrincipal,
  run: { runId: string; tenant: string },
  body: z.infer<typeof CancelBody>,
): Promise<z.infer<typeof CommandResponse>> {
  const command = parseInput(
    CancelRunCommand,
    {
      runId: run.runId,
      tenant: run.tenant,
      reason: body.reason,
      requestedBy: body.requestedBy ?? `api-key:${who.keyId}`,
    },
    'cancel',
  );
  return send(deps, deps.names.subjects.runCancel.build(), command);
}

async function send(
  deps: CommandDeps,
  subject: string,
  command: unknown,
): Promise<z.infer<typeof CommandResponse>> {
  const reply = await requestJson(deps.nc, subject, command, {
    timeoutMs: deps.timeoutMs,
    schema: RunCommandReply,
  });
  switch (reply.status) {
    case 'accepted':
      return reply;
    case 'refused':
      switch (reply.code) {
        case 'NOT_FOUND':
          throw new ApiError(404, ApiErrorCode.NOT_FOUND, reply.message);
        case 'NOT_AWAITING_REVIEW':
        case 'RUN_FINISHED':
          throw new ApiError(409, reply.code, reply.message);
        case 'INVALID_DECISION':
          throw new ApiError(422, ApiErrorCode.INVALID_DECISION, reply.message);
      }
      break;
    case 'error':
      throw new ApiError(502, ApiErrorCode.UNAVAILABLE, `the planner failed: ${reply.code}`);
  }
  throw new ApiError(502, ApiErrorCode.UNAVAILABLE, 'unexpected planner reply');
}
