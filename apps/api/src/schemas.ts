import { z } from 'zod';
import { ReviewChanges, RunRequest, TenantId } from '@keel/contracts';
import { RunStatus } from '@keel/run-domain';

/**
 * The API's inputs and outputs, defined once: requests are validated with
 * these, and GET /openapi.json is generated from them (`z.toJSONSchema`).
 */

/** POST /runs: the ingress's RunRequest; `tenant` defaults to the key's, `requestId` to the Idempotency-Key. */
export const SubmitRunBody = RunRequest.partial({ tenant: true, requestId: true }).meta({
  id: 'SubmitRunBody',
});

/** A run's status as the log says (run-domain's, defined once), or `submitted`: accepted, not yet recorded. */
export const RunStatusName = z
  .enum({ ...RunStatus, Submitted: 'submitted' })
  .meta({ id: 'RunStatus' });

export const ListRunsQuery = z
  .object({
    status: z.enum(RunStatus).optional(),
    tenant: TenantId.optional(),
    limit: z.coerce.number().int().min(1).max(200).default(20),
    /** `nextCursor` of the previous page. */
    cursor: z.string().min(1).max(400).optional(),
  })
  .strict();

export const RunIdParam = z.string().uuid();
export const StepParam = z.coerce.number().int().min(1).max(100_000);

const Reviewer = {
  /** Who decides (default: the API key's id). */
  reviewer: z.string().min(1).max(200).optional(),
  /** Idempotency of the decision (default: the Idempotency-Key header, else a new id). */
  reviewId: z.string().min(1).max(200).optional(),
};

export const ReviewBody = z
  .discriminatedUnion('decision', [
    z.object({ decision: z.literal('approve'), ...Reviewer }).strict(),
    z
      .object({ decision: z.literal('reject'), reason: z.string().min(1).max(2000), ...Reviewer })
      .strict(),
    z.object({ decision: z.literal('modify'), changes: ReviewChanges, ...Reviewer }).strict(),
  ])
  .meta({ id: 'ReviewBody' });

export const CancelBody = z
  .object({
    reason: z.string().min(1).max(2000),
    requestedBy: z.string().min(1).max(200).optional(),
  })
  .strict()
  .meta({ id: 'CancelBody' });

export const DlqListQuery = z
  .object({
    status: z.enum(['open', 'redriven', 'discarded', 'all']).default('open'),
    code: z.string().min(1).max(200).optional(),
    run: z.string().uuid().optional(),
    consumer: z.string().min(1).max(200).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(50),
  })
  .strict();
export const DlqIdParam = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
export const RedriveBody = z
  .object({ note: z.string().min(1).max(2000).optional() })
  .strict()
  .meta({ id: 'RedriveBody' });
export const DiscardBody = z
  .object({ reason: z.string().trim().min(1).max(2000) })
  .strict()
  .meta({ id: 'DiscardBody' });

// ---- responses (documentation; the handlers build these shapes) ----

export const ErrorBody = z
  .object({
    error: z.object({ code: z.string(), message: z.string() }),
    issues: z
      .array(z.object({ path: z.array(z.unknown()), message: z.string() }).loose())
      .optional(),
  })
  .meta({ id: 'Error' });

const Links = z.object({ self: z.string(), events: z.string(), stream: z.string() });

export const SubmitRunResponse = z
  .object({
    runId: z.string().uuid(),
    requestId: z.string(),
    tenant: TenantId,
    /** True when this Idempotency-Key (request id) was submitted before: the same run. */
    duplicate: z.boolean(),
    links: Links,
  })
  .meta({ id: 'SubmitRunResponse' });

export const RunView = z
  .object({
    runId: z.string().uuid(),
    tenant: TenantId,
    requestId: z.string().nullable(),
    status: RunStatusName,
    reviewStep: z.number().int().nullable(),
    steps: z.number().int(),
    modelCalls: z.number().int(),
    toolCalls: z.object({
      total: z.number().int(),
      failed: z.number().int(),
      pending: z.number().int(),
    }),
    budget: z.object({
      tokensIn: z.number().int(),
      tokensOut: z.number().int(),
      costUsd: z.number(),
    }),
    answer: z.string().nullable(),
    failure: z.object({ code: z.string(), message: z.string() }).nullable(),
    labels: z.record(z.string(), z.string()).nullable(),
    createdAt: z.string().nullable(),
    endedAt: z.string().nullable(),
    updatedAt: z.string().nullable(),
    links: Links,
  })
  .meta({ id: 'Run' });

export const RunPage = z
  .object({ runs: z.array(RunView), nextCursor: z.string().nullable() })
  .meta({ id: 'RunPage' });

export const TimelineEvent = z
  .object({
    /** `<transaction id>:<global position>`: the SSE id, and the log order. */
    id: z.string(),
    streamId: z.string(),
    streamVersion: z.number().int(),
    type: z.string(),
    recordedAt: z.string(),
    source: z.string(),
    step: z.number().int().nullable(),
    attempt: z.number().int().nullable(),
    tokens: z.object({ input: z.number().int(), output: z.number().int() }).nullable(),
    latencyMs: z.number().nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    data: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'TimelineEvent' });

export const CommandResponse = z
  .object({ status: z.literal('accepted'), runStatus: z.string(), duplicate: z.boolean() })
  .meta({ id: 'CommandAccepted' });

export const DlqEntryView = z
  .object({
    id: z.number().int(),
    kind: z.string(),
    status: z.enum(['open', 'redriven', 'discarded']),
    code: z.string(),
    reason: z.string(),
    consumer: z.string(),
    runId: z.string().nullable(),
    deadLetteredAt: z.string(),
    redriveCount: z.number().int(),
  })
  .loose()
  .meta({ id: 'DlqEntry' });
