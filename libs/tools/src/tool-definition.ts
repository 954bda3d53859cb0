import type { z } from 'zod';

/** What a tool may do to the world; decides how retries and crashes are handled. */
export const SideEffect = {
  /** Reads only: safe to retry, may be cached within a run. */
  Read: 'read',
  /** Writes Keel-owned state (inside its own transaction). */
  Write: 'write',
  /** Touches an external party: must go through the outbox with an idempotency key. */
  External: 'external',
} as const;
export type SideEffect = (typeof SideEffect)[keyof typeof SideEffect];

export interface ToolContext {
  /** Aborted when the tool's timeout passes or the executor shuts down. */
  readonly signal: AbortSignal;
  /** `<runId>:<step>:<index>`: the same on every attempt and after a crash. */
  readonly idempotencyKey: string;
  readonly runId: string;
}

/**
 * A tool's contract. Input is validated before `execute` and output after it;
 * a tool never sees unvalidated input and never returns unvalidated output.
 */
export interface ToolDefinition<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  /** The worker pool (bulkhead) that runs it: its own consumer and concurrency. */
  readonly pool: string;
  readonly sideEffect: SideEffect;
  readonly timeoutMs: number;
  readonly input: I;
  readonly output: O;
  execute(input: z.infer<I>, ctx: ToolContext): Promise<z.infer<O>>;
}

/** Identity helper that keeps the input/output types tied to the schemas. */
export const defineTool = <I extends z.ZodType, O extends z.ZodType>(
  def: ToolDefinition<I, O>,
): ToolDefinition<I, O> => def;
