import type { ChatMessage, RawModelReply } from '@keel/run-domain';

/** A tool as offered to the model: name, description and JSON Schema of its input. */
export interface ToolSpec {
  readonly name: string;
  readonly description: string;
  readonly parameters: Record<string, unknown>;
}

/** What the model said, before validation (defined with the parser in run-domain). */
export type { RawModelReply };

export interface ModelReply {
  readonly reply: RawModelReply;
  /** The model that answered, as the provider names it. */
  readonly model: string;
  readonly usage: { inputTokens: number; outputTokens: number };
  readonly latencyMs: number;
}

/**
 * How tools reach the model. `native`: the provider's own tool calling.
 * `json`: no native tools; the transcript describes them and the provider is
 * asked for one JSON object matching `responseSchema` (OpenAI `response_format`
 * json_schema; Anthropic has no such switch, so the prompt alone asks for it).
 */
export type ToolMode = 'native' | 'json';

export interface ModelCallArgs {
  readonly messages: readonly ChatMessage[];
  /** Offered natively in `native` mode; ignored by the adapter in `json` mode. */
  readonly tools: readonly ToolSpec[];
  readonly maxOutputTokens: number;
  /** The logical step's key: the same on every retry of this step (sent as `Idempotency-Key`). */
  readonly idempotencyKey: string;
  readonly mode: ToolMode;
  /** JSON Schema of the reply object, for `json` mode. */
  readonly responseSchema?: Record<string, unknown>;
  readonly signal?: AbortSignal;
}

/**
 * A model provider. Implementations make exactly one attempt per call (their
 * SDK's own retries are off) and throw `ModelCallError` classifying the
 * failure; Keel's retry policy, breakers and fallbacks decide what happens next.
 */
export interface ModelClient {
  /** The deployment's name for the provider endpoint (breaker key, recorded on events). */
  readonly provider: string;
  /** The wire protocol, for the `gen_ai.system` span attribute. */
  readonly system: 'openai' | 'anthropic';
  readonly model: string;
  complete(args: ModelCallArgs): Promise<ModelReply>;
}

/**
 * What a failed call means for the caller:
 * - `transient`: 408/409/429/5xx/529, timeouts, resets — retry with backoff (honour `retryAfterMs`).
 * - `permanent`: 400/401/403/404/422 and other 4xx — retrying cannot help.
 * - `quota`: billing or quota exhausted — stop the run and alert an operator.
 */
export type ModelErrorClass = 'transient' | 'permanent' | 'quota';

export class ModelCallError extends Error {
  override name = 'ModelCallError';
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(
    /** Stable code, e.g. `MODEL_HTTP_429`, `MODEL_TIMEOUT`, `MODEL_QUOTA`. */
    readonly code: string,
    message: string,
    readonly errorClass: ModelErrorClass,
    options: { status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }

  get retryable(): boolean {
    return this.errorClass === 'transient';
  }
}
