import { z } from 'zod';
import { BaseConfig } from '@keel/runtime';

/** The planner's settings (env). Model keys are read here and never logged. */
export const PlannerConfig = BaseConfig.extend({
  /** OpenAI-compatible base URL, e.g. https://api.openai.com/v1 or a vLLM/Ollama server. */
  KEEL_MODEL_BASE_URL: z.string().url().default('http://127.0.0.1:8080/v1'),
  KEEL_MODEL_API_KEY: z.string().default('not-needed'),
  KEEL_MODEL_NAME: z.string().default('keel-scripted'),
  KEEL_MODEL_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  /** Upper bound on a decision's output tokens; also part of the budget reservation. */
  KEEL_MODEL_MAX_OUTPUT_TOKENS: z.coerce.number().int().min(16).default(1024),
  KEEL_BUDGET_TIMEOUT_MS: z.coerce.number().int().min(50).default(2000),
  KEEL_RUN_MAX_STEPS: z.coerce.number().int().min(1).default(20),
  KEEL_RUN_MAX_TOOL_CALLS: z.coerce.number().int().min(0).default(50),
  KEEL_RUN_MAX_TOKENS: z.coerce.number().int().min(1).default(200_000),
  KEEL_RUN_DEADLINE_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(15 * 60_000),
  KEEL_PLANNER_CONCURRENCY: z.coerce.number().int().min(1).max(1024).default(64),
});
export type PlannerConfig = z.infer<typeof PlannerConfig>;
export const PLANNER_CONFIG = Symbol('PLANNER_CONFIG');
