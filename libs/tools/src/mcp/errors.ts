import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ToolError } from '../tool-definition';

/** Longest message a tool error carries (the executor cuts at 500 too). */
export const MAX_ERROR_TEXT = 500;

export interface McpFailure {
  readonly error: ToolError;
  /** The connection is unusable (closed, refused, session lost): reconnect before the next call. */
  readonly reconnect: boolean;
}

export interface McpCallContext {
  readonly server: string;
  readonly tool: string;
  readonly timeoutMs: number;
  /** The call's signal: aborted means the executor gave up on it (timeout or shutdown). */
  readonly signal: AbortSignal;
}

/**
 * What a failed `tools/call` means for Keel. The SDK raises an abort as an
 * `McpError(RequestTimeout)` too, so the call's own signal decides between
 * "aborted" and "timed out". Messages are the server's or the transport's,
 * cut short; arguments and results never appear in them.
 */
export function classifyMcpError(err: unknown, c: McpCallContext): McpFailure {
  if (err instanceof ToolError) return { error: err, reconnect: false };
  const where = `MCP server '${c.server}'`;
  const fail = (
    code: string,
    message: string,
    cls: ToolError['errorClass'],
    reconnect = false,
  ) => ({
    error: new ToolError(code, cut(message), cls, { cause: err }),
    reconnect,
  });
  if (c.signal.aborted) return fail('MCP_ABORTED', `${c.tool}: call aborted`, 'transient');
  if (err instanceof McpError) {
    if (err.code === (ErrorCode.RequestTimeout as number)) {
      const message = `${c.tool}: no answer from ${where} within ${c.timeoutMs} ms`;
      return fail('MCP_TIMEOUT', message, 'transient');
    }
    if (err.code === (ErrorCode.ConnectionClosed as number)) {
      return fail('MCP_UNAVAILABLE', `${where}: connection closed`, 'transient', true);
    }
    // The server refused the request (invalid params, unknown method, ...): retrying cannot help.
    return fail('MCP_PROTOCOL_ERROR', `${c.tool}: ${err.message}`, 'permanent');
  }
  if (err instanceof StreamableHTTPError) {
    const status = err.code;
    if (status === 401 || status === 403) {
      return fail('MCP_UNAUTHORIZED', `${where}: HTTP ${status}`, 'auth');
    }
    if (status === 429) return fail('MCP_RATE_LIMITED', `${where}: HTTP 429`, 'rate_limited');
    return fail('MCP_UNAVAILABLE', `${where}: ${err.message}`, 'transient', true);
  }
  if (err instanceof UnauthorizedError)
    return fail('MCP_UNAUTHORIZED', `${where}: unauthorized`, 'auth');
  if (err instanceof z.core.$ZodError) {
    return fail('MCP_BAD_RESULT', `${c.tool}: ${where} sent a malformed result`, 'permanent');
  }
  return fail('MCP_UNAVAILABLE', `${where}: ${errorText(err)}`, 'transient', true);
}

/** The text a tool gave with `isError: true`: its text content, cut short. */
export function toolErrorText(content: readonly unknown[] | undefined): string {
  const text = (content ?? [])
    .map((c) =>
      typeof c === 'object' && c !== null && (c as { type?: unknown }).type === 'text'
        ? (c as { text?: unknown }).text
        : undefined,
    )
    .filter((t): t is string => typeof t === 'string' && t.length > 0)
    .join('\n');
  return cut(text || 'the tool reported an error without text');
}

/**
 * An error's message and its cause's code or message (`fetch failed
 * (ECONNREFUSED)`). Duck-typed: errors from Node's own `fetch` come from
 * another realm under test runners, where `instanceof Error` is false.
 */
export function errorText(err: unknown): string {
  const e = err as { message?: unknown; cause?: { code?: unknown; message?: unknown } } | null;
  if (typeof e?.message !== 'string') return String(err);
  const detail = [e.cause?.code, e.cause?.message].find(
    (d): d is string => typeof d === 'string' && d.length > 0,
  );
  return detail ? `${e.message} (${detail})` : e.message;
}

const cut = (s: string): string =>
  s.length > MAX_ERROR_TEXT ? `${s.slice(0, MAX_ERROR_TEXT - 1)}…` : s;
