import { ToolError, type ToolDefinition } from '@keel/tools';

/**
 * How a failed attempt is treated. A `ToolError` says it itself; otherwise the
 * tool's `classifyError` hook may; a timeout is transient; anything else is
 * transient too (a bug that keeps failing runs out of attempts, then fails).
 * Messages are the tool's own, cut short: never the input.
 */
export function classifyToolError(
  tool: ToolDefinition,
  err: unknown,
  timedOut: boolean,
): ToolError {
  if (timedOut)
    return new ToolError(
      'TOOL_TIMEOUT',
      `${tool.name} timed out after ${tool.timeoutMs} ms`,
      'transient',
    );
  if (err instanceof ToolError) return err;
  const hooked = tool.classifyError?.(err);
  if (hooked) return hooked;
  const code = (err as { code?: unknown }).code;
  return new ToolError(
    typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? code : 'TOOL_ERROR',
    (err instanceof Error ? err.message : String(err)).slice(0, 500),
    'transient',
    { cause: err },
  );
}

export const isRetryableClass = (e: ToolError): boolean =>
  e.errorClass === 'transient' || e.errorClass === 'rate_limited';
