import type { ChatMessage } from '@keel/run-domain';

/** A tool as offered to the model: name, description and JSON Schema of its input. */
export interface ToolSpec {
  readonly name: string;
  readonly description: string;
  readonly parameters: Record<string, unknown>;
}

/** What the model said, before Keel assigns call ids and validates it into a decision. */
export type RawModelReply =
  | {
      readonly kind: 'tool_calls';
      readonly calls: readonly { name: string; argumentsJson: string }[];
      /** Assistant text sent with the calls: may carry Keel's decision note (JSON). */
      readonly note?: string;
    }
  | { readonly kind: 'text'; readonly text: string };

export interface ModelReply {
  readonly reply: RawModelReply;
  readonly model: string;
  readonly usage: { inputTokens: number; outputTokens: number };
  readonly latencyMs: number;
}

/**
 * A model provider. Implementations do one attempt per call (their SDK's own
 * retries are off) and throw `ModelCallError` saying whether a retry can help.
 */
export interface ModelClient {
  readonly model: string;
  complete(args: {
    messages: readonly ChatMessage[];
    tools: readonly ToolSpec[];
    maxOutputTokens: number;
    /** The logical step's key: the same on every retry of this step. */
    idempotencyKey: string;
    signal?: AbortSignal;
  }): Promise<ModelReply>;
}

export class ModelCallError extends Error {
  override name = 'ModelCallError';
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
