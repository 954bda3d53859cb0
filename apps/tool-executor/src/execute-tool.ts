import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { ErrorInfo } from '@keel/contracts';
import { GenAiAttr, GenAiOperation, KeelAttr } from '@keel/telemetry';
import type { ToolDefinition } from '@keel/tools';

const tracer = trace.getTracer('keel-tool-executor');

export type ToolResult =
  | { ok: true; output: Record<string, unknown>; durationMs: number }
  | { ok: false; rejected: boolean; error: ErrorInfo };

/**
 * One attempt of a tool: validate input (a bad input is a rejection, never
 * executed), run it under its timeout (AbortSignal), validate the output (a
 * shape violation is a failure, never passed on).
 */
export async function executeTool(
  tool: ToolDefinition,
  rawInput: unknown,
  ctx: { runId: string; idempotencyKey: string },
): Promise<ToolResult> {
  const input = tool.input.safeParse(rawInput);
  if (!input.success) {
    return {
      ok: false,
      rejected: true,
      error: { code: 'INVALID_INPUT', message: summarise(input.error.issues), retryable: false },
    };
  }
  return tracer.startActiveSpan(`execute_tool ${tool.name}`, async (span): Promise<ToolResult> => {
    span.setAttributes({
      [GenAiAttr.operationName]: GenAiOperation.executeTool,
      [GenAiAttr.toolName]: tool.name,
      [KeelAttr.toolVersion]: tool.version,
    });
    const started = performance.now();
    const signal = AbortSignal.timeout(tool.timeoutMs);
    try {
      const raw = await Promise.race([
        tool.execute(input.data, { signal, idempotencyKey: ctx.idempotencyKey, runId: ctx.runId }),
        new Promise<never>((_, reject) =>
          signal.addEventListener(
            'abort',
            () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted')),
            { once: true },
          ),
        ),
      ]);
      const output = tool.output.safeParse(raw);
      if (!output.success) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'INVALID_OUTPUT' });
        return {
          ok: false,
          rejected: false,
          error: {
            code: 'INVALID_OUTPUT',
            message: summarise(output.error.issues),
            retryable: false,
          },
        };
      }
      return {
        ok: true,
        output: output.data as Record<string, unknown>,
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      };
    } catch (err) {
      const timedOut = signal.aborted;
      const code = timedOut ? 'TOOL_TIMEOUT' : ((err as { code?: string }).code ?? 'TOOL_ERROR');
      span.setStatus({ code: SpanStatusCode.ERROR, message: code });
      const message = timedOut
        ? `${tool.name} timed out after ${tool.timeoutMs} ms`
        : err instanceof Error
          ? err.message
          : String(err);
      return { ok: false, rejected: false, error: { code, message, retryable: timedOut } };
    } finally {
      span.end();
    }
  });
}

const summarise = (issues: readonly { path: PropertyKey[]; message: string }[]) =>
  issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
