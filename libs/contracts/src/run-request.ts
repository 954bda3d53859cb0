import { z } from 'zod';

/**
 * The ingress message: what an upstream system publishes to start a run.
 * Published on `<prefix>.ingress.run-request` (NATS) with `Nats-Msg-Id` set to
 * `requestId`; the same (tenant, requestId) always names the same run, so a
 * retried or duplicated request starts at most one run.
 */

/** Largest run request the ingress accepts; larger ones are dead-lettered. */
export const MAX_RUN_REQUEST_BYTES = 256 * 1024;

export const TenantId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'tenant: lowercase letters, digits, _ or -, at most 63');
export const ToolName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,63}$/, 'tool name: lowercase letters, digits or _, at most 64');

export const RunLimits = z
  .object({
    /** Hard ceiling on planner steps (model decisions + tool rounds). */
    maxSteps: z.number().int().min(1).max(1000),
    /** Hard ceiling on tool calls across the run. */
    maxToolCalls: z.number().int().min(0).max(10_000),
    /** Token budget (input + output) for the whole run. */
    maxTokens: z.number().int().min(1).max(100_000_000),
    /** Separate ceilings on prompt (input) and completion (output) tokens; unset: only maxTokens. */
    maxInputTokens: z.number().int().min(1).max(100_000_000),
    maxOutputTokens: z.number().int().min(1).max(100_000_000),
    /** Cost budget in USD for the whole run (priced by the guard's table). */
    maxCostUsd: z.number().min(0).max(1_000_000),
    /** Wall-clock budget from acceptance, in milliseconds. */
    deadlineMs: z
      .number()
      .int()
      .min(1000)
      .max(7 * 24 * 3600 * 1000),
  })
  .partial()
  .strict();
export type RunLimits = z.infer<typeof RunLimits>;

export const RunRequest = z
  .object({
    schemaVersion: z.literal(1).default(1),
    /** The upstream system's id for this request: the idempotency key of the run. */
    requestId: z.string().min(1).max(200),
    tenant: TenantId,
    input: z.object({ prompt: z.string().min(1).max(200_000) }).strict(),
    /** The run's capability: the only tools it may call. The runtime enforces it. */
    tools: z.array(ToolName).max(64).default([]),
    limits: RunLimits.optional(),
    /** Free-form labels, echoed into the run's events (not into traces). */
    labels: z.record(z.string().max(64), z.string().max(256)).optional(),
  })
  .strict();
export type RunRequest = z.infer<typeof RunRequest>;
export type RunRequestInput = z.input<typeof RunRequest>;
