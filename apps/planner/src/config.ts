import { z } from 'zod';
import { BaseConfig, jsonEnv } from '@keel/runtime';

const csv = z
  .string()
  .default('')
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

/** One model endpoint; the key is read from the named environment variable, never from config. */
const ProviderSpec = z
  .object({
    kind: z.enum(['openai', 'anthropic']),
    baseUrl: z.string().url(),
    apiKeyEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .optional(),
    timeoutMs: z.number().int().min(100).optional(),
  })
  .strict();

const ModelRef = z
  .object({
    provider: z.string(),
    model: z.string().min(1),
    /** `native` tool calling, or `json` (tools described in the prompt, JSON reply) for models without it. */
    toolMode: z.enum(['native', 'json']).default('native'),
  })
  .strict();

const RoleSpec = ModelRef.extend({ fallback: ModelRef.optional() }).strict();

/**
 * `KEEL_MODELS`: the full model map (providers, and a model per role with an
 * optional fallback used while the primary's breaker is open). Without it,
 * one OpenAI-compatible provider from `KEEL_MODEL_*` serves every role.
 */
export const ModelMap = z
  .object({
    providers: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/), ProviderSpec),
    roles: z.object({ reasoning: RoleSpec, synthesis: RoleSpec.optional() }).strict(),
  })
  .strict()
  .superRefine((m, ctx) => {
    const roles = Object.entries(m.roles).flatMap(([role, r]) =>
      r
        ? [[role, r] as const, ...(r.fallback ? [[`${role}.fallback`, r.fallback] as const] : [])]
        : [],
    );
    for (const [role, r] of roles)
      if (!m.providers[r.provider])
        ctx.addIssue({ code: 'custom', message: `${role}: unknown provider '${r.provider}'` });
  });
export type ModelMap = z.infer<typeof ModelMap>;

/** The planner's settings (env). Model keys are read here and never logged. */
export const PlannerConfig = BaseConfig.extend({
  /** OpenAI-compatible base URL, e.g. https://api.openai.com/v1 or a vLLM/Ollama server. */
  KEEL_MODEL_BASE_URL: z.string().url().default('http://127.0.0.1:8080/v1'),
  /** `openai` (chat completions) or `anthropic` (Messages API) for the single-provider setup. */
  KEEL_MODEL_PROVIDER: z.enum(['openai', 'anthropic']).default('openai'),
  KEEL_MODEL_API_KEY: z.string().default('not-needed'),
  KEEL_MODEL_NAME: z.string().default('keel-scripted'),
  KEEL_MODEL_TOOL_MODE: z.enum(['native', 'json']).default('native'),
  KEEL_MODELS: jsonEnv(ModelMap).optional(),
  KEEL_MODEL_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  /** Upper bound on a decision's output tokens; also part of the budget reservation. */
  KEEL_MODEL_MAX_OUTPUT_TOKENS: z.coerce.number().int().min(16).default(1024),
  /** The model's input window: transcripts are trimmed to this minus the output tokens. */
  KEEL_MODEL_CONTEXT_TOKENS: z.coerce.number().int().min(1024).default(32_000),
  /** Attempts per logical model step (transient failures), the first included. */
  KEEL_MODEL_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  KEEL_MODEL_RETRY_BASE_MS: z.coerce.number().int().min(1).default(500),
  KEEL_MODEL_RETRY_CAP_MS: z.coerce.number().int().min(1).default(30_000),
  /** A Retry-After longer than this ends the step instead of holding the run. */
  KEEL_MODEL_MAX_RETRY_AFTER_MS: z.coerce.number().int().min(0).default(120_000),
  KEEL_MODEL_BREAKER_FAILURES: z.coerce.number().int().min(1).default(5),
  KEEL_MODEL_BREAKER_COOLDOWN_MS: z.coerce.number().int().min(0).default(30_000),
  /** Replies per step that may fail validation (each re-prompted with its issues). */
  KEEL_MODEL_OUTPUT_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(3),
  /** After that: `review` pauses the run for a person, `dead_letter` fails it. */
  KEEL_INVALID_OUTPUT_ESCALATION: z.enum(['review', 'dead_letter']).default('review'),
  /** `development` turns the review checkpoints off unless KEEL_REVIEW_ENABLED says otherwise. */
  KEEL_ENV: z.enum(['development', 'production']).default('production'),
  KEEL_REVIEW_ENABLED: z.enum(['true', 'false']).optional(),
  /** Decisions less confident than this pause for a person. */
  KEEL_REVIEW_MIN_CONFIDENCE: z.coerce.number().min(0).max(1).default(0.5),
  /** Tools whose calls always need a person's approval (comma-separated). */
  KEEL_REVIEW_TOOLS: csv,
  KEEL_BUDGET_TIMEOUT_MS: z.coerce.number().int().min(50).default(2000),
  /**
   * Reserve-ahead: the next step's reservation is asked while its tools run,
   * allowing this many input tokens per pending tool result. 0 turns it off.
   */
  KEEL_RESERVE_AHEAD_TOKENS_PER_TOOL: z.coerce.number().int().min(0).default(1024),
  KEEL_RUN_MAX_STEPS: z.coerce.number().int().min(1).default(20),
  KEEL_RUN_MAX_TOOL_CALLS: z.coerce.number().int().min(0).default(50),
  KEEL_RUN_MAX_TOKENS: z.coerce.number().int().min(1).default(200_000),
  KEEL_RUN_DEADLINE_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(15 * 60_000),
  /** MCP servers whose tools are offered to the model (JSON list; see docs/tools.md). */
  KEEL_MCP_SERVERS: z.string().optional(),
  KEEL_PLANNER_CONCURRENCY: z.coerce.number().int().min(1).max(1024).default(64),
}).transform((c) => ({
  ...c,
  reviewEnabled:
    c.KEEL_REVIEW_ENABLED !== undefined
      ? c.KEEL_REVIEW_ENABLED === 'true'
      : c.KEEL_ENV === 'production',
}));
export type PlannerConfig = z.infer<typeof PlannerConfig>;

/** The model map in force: `KEEL_MODELS`, or one provider from `KEEL_MODEL_*`. */
export function modelMapOf(c: PlannerConfig): ModelMap {
  if (c.KEEL_MODELS) return c.KEEL_MODELS;
  const primary = {
    provider: 'default',
    model: c.KEEL_MODEL_NAME,
    toolMode: c.KEEL_MODEL_TOOL_MODE,
  };
  return {
    providers: { default: { kind: c.KEEL_MODEL_PROVIDER, baseUrl: c.KEEL_MODEL_BASE_URL } },
    roles: { reasoning: primary },
  };
}

export const PLANNER_CONFIG = Symbol('PLANNER_CONFIG');
