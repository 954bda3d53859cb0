import type { IncomingHttpHeaders } from 'node:http';
import type { AnthropicMessagesRequest } from './anthropic-types';

export * from './anthropic-types';

/** The wire protocol of a request: `POST /v1/chat/completions` or `POST /v1/messages`. */
export type ModelProtocol = 'openai' | 'anthropic';

/**
 * The subset of the OpenAI chat-completions request the scripted model reads.
 * Everything else the client sends stays available in the recorded request.
 */
export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  /** A string, or content parts (`{ type: 'text', text }`, ...); null on assistant tool-call turns. */
  content?: string | ContentPart[] | null;
  name?: string;
  tool_calls?: ChatToolCall[];
  tool_call_id?: string;
}

export interface ContentPart {
  type: string;
  text?: string;
  [key: string]: unknown;
}

export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatTool {
  type: 'function';
  function: {
    name: string;
    description?: string;
    parameters?: Record<string, unknown>;
    strict?: boolean;
  };
}

export interface ChatCompletionRequest {
  model: string;
  messages: ChatMessage[];
  tools?: ChatTool[];
  tool_choice?: unknown;
  response_format?: unknown;
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  stream?: boolean;
  [key: string]: unknown;
}

/** One model request (either protocol) the server answered (or is answering) via the script. */
export interface RecordedRequest {
  /** 0-based position among script calls; the `index` the script was given. */
  index: number;
  protocol: ModelProtocol;
  path: string;
  /** Lower-cased header names, as node:http gives them. */
  headers: IncomingHttpHeaders;
  /** What the script was given: the request itself, or an Anthropic request translated. */
  body: ChatCompletionRequest;
  /** The Anthropic request as sent; set when `protocol` is `anthropic`. */
  anthropicBody?: AnthropicMessagesRequest;
  receivedAt: Date;
}

/** A request refused before the script saw it (bad JSON, wrong path, streaming...). */
export interface RejectedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
  status: number;
  reason: string;
}

/** Usage override; unset fields are estimated (see `estimateTokens`). */
export interface ScriptedUsage {
  promptTokens?: number;
  completionTokens?: number;
}

interface ReplyCommon {
  /** Override the estimated token counts. */
  usage?: ScriptedUsage;
  /** Wait this long before answering (a slow but healthy model). */
  delayMs?: number;
}

/** A final text answer: `finish_reason: 'stop'` (or `length`). */
export interface ContentReply extends ReplyCommon {
  content: string;
  finishReason?: 'stop' | 'length';
}

/** Tool calls: ids `call_<n>`, arguments JSON-encoded, `finish_reason: 'tool_calls'`. */
export interface ToolCallsReply extends ReplyCommon {
  toolCalls: { name: string; arguments: Record<string, unknown> }[];
  /** Assistant text sent with the calls (OpenAI allows both), e.g. Keel's decision note. */
  content?: string;
}

/**
 * An HTTP error status with the protocol's error body: OpenAI's
 * `{ error: { message, type, code } }` or Anthropic's
 * `{ type: 'error', error: { type, message } }` (or `body`, sent as given on either).
 */
export interface StatusFault {
  fault: 'status';
  /** 429, 500, 503, 529 (overloaded), 400, 401, ... */
  status: number;
  /** Sent as the `retry-after` header. */
  retryAfterSeconds?: number;
  /** A string is sent verbatim; anything else as JSON. Default: the protocol's error body for `status`. */
  body?: unknown;
}

/** Accepts the request and never answers; the socket is destroyed by `close()`. */
export interface HangFault {
  fault: 'hang';
}

/** Destroys the connection without an HTTP response. */
export interface DropFault {
  fault: 'drop';
}

/** 200 with a JSON content type and a body that is not JSON. */
export interface MalformedFault {
  fault: 'malformed';
}

/** Faults are discriminated by `fault`; new kinds are added as new members here. */
export type FaultReply = StatusFault | HangFault | DropFault | MalformedFault;

export type ScriptedReply = ContentReply | ToolCallsReply | FaultReply;

/**
 * Decides the reply to the `index`-th (0-based) model request. Anthropic
 * requests arrive translated into the chat-completions shape.
 */
export type ModelScript = (
  request: ChatCompletionRequest,
  index: number,
) => ScriptedReply | Promise<ScriptedReply>;
