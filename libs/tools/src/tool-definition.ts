import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { z } from 'zod';
import type { Queryable } from './queryable';

/** What a tool may do to the world; decides how retries and crashes are handled. */
export const SideEffect = {
  /** Reads only: safe to retry, may be cached within a run. */
  Read: 'read',
  /** Writes Keel-owned state or acts through an idempotent API (it gets the idempotency key). */
  Write: 'write',
  /** Touches an external party: never acts itself, asks the outbox (`ctx.deliver`). */
  External: 'external',
} as const;
export type SideEffect = (typeof SideEffect)[keyof typeof SideEffect];

/** An external effect a tool asks for; the outbox performs it once per idempotency key. */
export interface DeliveryRequest {
  readonly channel: 'webhook' | 'email';
  /** The URL (webhook) or the recipient (email). */
  readonly target: string;
  /** The JSON body (webhook), or `{ subject, text }` (email). */
  readonly payload: Record<string, unknown>;
}

/** The resources of the pool a tool runs in (its bulkhead): nothing is shared across pools. */
export interface PoolResources {
  /** This pool's own keep-alive HTTP agents. */
  readonly http: HttpAgent;
  readonly https: HttpsAgent;
  /** This pool's own (small) PostgreSQL pool, on the deployment's schema. */
  readonly db: Queryable;
}

export interface ToolContext {
  /** Aborted when the tool's timeout passes or the executor shuts down. */
  readonly signal: AbortSignal;
  /** `<runId>:<step>:<index>`: the same on every attempt and after a crash. */
  readonly idempotencyKey: string;
  readonly runId: string;
  readonly tenant: string;
  /** 1-based attempt of this call. */
  readonly attempt: number;
  readonly resources: PoolResources;
  /**
   * For `external` tools: ask for a delivery; returns its id. Recorded in the
   * same transaction as the call's outcome, performed later by the outbox.
   */
  deliver(request: DeliveryRequest): string;
}

/** How a tool's failure is handled: see `ToolError`. */
export type ToolErrorClass = 'transient' | 'rate_limited' | 'auth' | 'permanent' | 'quota';

/**
 * What a tool throws to say how its failure should be treated. `transient`
 * and `rate_limited` (after `retryAfterMs`) are retried; `auth`, `permanent`
 * and `quota` are not. Anything else a tool throws is classified by the tool's
 * `classifyError` hook, else treated as transient.
 */
export class ToolError extends Error {
  override name = 'ToolError';
  readonly retryAfterMs: number | undefined;
  constructor(
    /** Stable code, e.g. `HTTP_503`, `HOST_NOT_ALLOWED`. */
    readonly code: string,
    message: string,
    readonly errorClass: ToolErrorClass,
    options: { retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Retries of one call: attempts (the first included) and full-jitter backoff. */
export interface ToolRetryPolicy {
  readonly maxAttempts: number;
  readonly baseMs: number;
  readonly capMs: number;
}

/**
 * A tool's contract. Input is validated before `execute` and output after it;
 * a tool never sees unvalidated input and never returns unvalidated output.
 */
export interface ToolDefinition<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  /** The worker pool (bulkhead) that runs it: its own consumer, concurrency, HTTP agent and DB pool. */
  readonly pool: string;
  readonly sideEffect: SideEffect;
  readonly timeoutMs: number;
  readonly input: I;
  readonly output: O;
  /** Default: 3 attempts, 200 ms base, 5 s cap (1 attempt for `external`: it only enqueues). */
  readonly retry?: ToolRetryPolicy;
  /** Classify an error the tool threw that is not a `ToolError` (e.g. an SDK's). */
  readonly classifyError?: (err: unknown) => ToolError | undefined;
  /**
   * The dependency its circuit breaker guards (calls with the same key share a
   * breaker), fixed or per input (e.g. per host). Default: the tool's name.
   */
  readonly breakerKey?: string | ((input: z.infer<I>) => string);
  /** `read` tools only: within a run, the same input returns the recorded output without a call. */
  readonly cacheable?: boolean;
  /**
   * The tool that undoes this one (refund for charge), and its input from this
   * call's input and output. Run in reverse order when the run fails after it.
   */
  readonly compensation?: {
    readonly tool: string;
    readonly input: (input: z.infer<I>, output: z.infer<O>) => Record<string, unknown>;
  };
  /** The JSON Schema offered to the model, when it is not derived from `input` (MCP tools). */
  readonly inputJsonSchema?: Record<string, unknown>;
  /** Periodic `working` heartbeats are sent while it runs; long tools need nothing else. */
  execute(input: z.infer<I>, ctx: ToolContext): Promise<z.infer<O>>;
}

/** Identity helper that keeps the input/output types tied to the schemas. */
export const defineTool = <I extends z.ZodType, O extends z.ZodType>(
  def: ToolDefinition<I, O>,
): ToolDefinition<I, O> => def;
