import { z } from 'zod';

/**
 * What a model costs, per million input and output tokens (USD). The guard
 * prices each reservation's estimate and each settlement's actual usage with
 * it; a model missing from the table costs `fallback` (default: nothing —
 * token limits still apply).
 */
export const PriceTable = z.record(
  z.string(),
  z.object({ inputPerMTok: z.number().min(0), outputPerMTok: z.number().min(0) }).strict(),
);
export type PriceTable = z.infer<typeof PriceTable>;

export function costMicros(
  table: PriceTable,
  model: string,
  tokens: { inputTokens: number; outputTokens: number },
): number {
  const p = table[model] ?? table['*'];
  if (!p) return 0;
  // USD per million tokens × tokens = micro-dollars, exactly.
  return Math.ceil(tokens.inputTokens * p.inputPerMTok + tokens.outputTokens * p.outputPerMTok);
}
