import { z } from 'zod';
import type { ReplayPolicy } from '@keel/run-domain';
import { parseConfig } from '@keel/runtime';

const csv = z
  .string()
  .default('')
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

/**
 * The planner settings that shape its decisions, read from the same variables
 * with the same defaults as the planner's `PlannerConfig`
 * (apps/planner/src/config.ts — apps may not import each other): run
 * `keel replay --check` with the planner's environment, or the check compares
 * against another review policy than the one the run was decided under.
 */
const DecisionEnv = z.object({
  KEEL_ENV: z.enum(['development', 'production']).default('production'),
  KEEL_REVIEW_ENABLED: z.enum(['true', 'false']).optional(),
  KEEL_REVIEW_MIN_CONFIDENCE: z.coerce.number().min(0).max(1).default(0.5),
  KEEL_REVIEW_TOOLS: csv,
  KEEL_MODEL_OUTPUT_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(3),
  KEEL_INVALID_OUTPUT_ESCALATION: z.enum(['review', 'dead_letter']).default('review'),
});

export function decisionPolicyFromEnv(env: NodeJS.ProcessEnv): ReplayPolicy {
  const c = parseConfig(DecisionEnv, env);
  return {
    review: {
      enabled:
        c.KEEL_REVIEW_ENABLED !== undefined
          ? c.KEEL_REVIEW_ENABLED === 'true'
          : c.KEEL_ENV === 'production',
      minConfidence: c.KEEL_REVIEW_MIN_CONFIDENCE,
      highStakesTools: c.KEEL_REVIEW_TOOLS,
    },
    maxInvalidOutputs: c.KEEL_MODEL_OUTPUT_ATTEMPTS,
    invalidOutputEscalation: c.KEEL_INVALID_OUTPUT_ESCALATION,
  };
}
