import { z } from 'zod';

/**
 * An event type's contract: its current schema version, the zod schema of its
 * data, and upcasters that turn each older stored version into the next one.
 * Upcasting happens at the store edge only; domain code sees the current shape.
 */
export interface EventDefinition<T extends string = string, D extends z.ZodType = z.ZodType> {
  readonly type: T;
  readonly schemaVersion: number;
  readonly data: D;
  /** `upcasters[n]` turns version n data into version n+1 data. */
  readonly upcasters: Readonly<Record<number, (old: unknown) => unknown>>;
  /** `{ type, data }` schema, for discriminated unions. */
  readonly schema: z.ZodObject<{ type: z.ZodLiteral<T>; data: D }>;
}

export function defineEvent<T extends string, D extends z.ZodType>(
  type: T,
  schemaVersion: number,
  data: D,
  upcasters: Record<number, (old: unknown) => unknown> = {},
): EventDefinition<T, D> {
  for (let v = 1; v < schemaVersion; v++) {
    if (!upcasters[v]) throw new Error(`${type}: missing upcaster from v${v} to v${v + 1}`);
  }
  return {
    type,
    schemaVersion,
    data,
    upcasters,
    schema: z.object({ type: z.literal(type), data }),
  };
}

export const Usage = z.object({
  inputTokens: z.number().int().min(0),
  outputTokens: z.number().int().min(0),
});
export type Usage = z.infer<typeof Usage>;

export const ErrorInfo = z.object({
  /** Stable machine-readable code, e.g. `TOOL_TIMEOUT`. */
  code: z.string().max(64),
  message: z.string().max(2000),
  /** What the caller should do: retry (maybe after a delay) or give up. */
  retryable: z.boolean(),
});
export type ErrorInfo = z.infer<typeof ErrorInfo>;

export const JsonObject = z.record(z.string(), z.unknown());
