import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { GenAiAttr, GenAiOperation, KeelAttr, startActiveSpanSampled } from '@keel/telemetry';
import {
  ToolError,
  type DeliveryRequest,
  type ToolContext,
  type ToolDefinition,
} from '@keel/tools';
import { classifyToolError } from './call/classify-tool-error';

const tracer = trace.getTracer('keel-tool-executor');

export type AttemptResult =
  | {
      ok: true;
      output: Record<string, unknown>;
      durationMs: number;
      deliveries: DeliveryRequest[];
    }
  | { ok: false; error: ToolError };

/**
 * One attempt of a tool on an already validated input: run it under its
 * timeout (an AbortSignal it should honour; the attempt ends at the timeout
 * either way), classify a failure, validate the output (a shape violation is
 * a permanent failure, never passed on). External tools only collect their
 * delivery requests here; nothing leaves the process until the outcome commits.
 */
export async function attemptTool(
  tool: ToolDefinition,
  input: unknown,
  ctx: Omit<ToolContext, 'signal' | 'deliver'>,
  /** The id the `index`-th delivery of this call gets (stable across attempts). */
  deliveryIdFor: (index: number) => string,
): Promise<AttemptResult> {
  return startActiveSpanSampled(
    tracer,
    `execute_tool ${tool.name}`,
    {},
    context.active(),
    async (span): Promise<AttemptResult> => {
      span.setAttributes({
        [GenAiAttr.operationName]: GenAiOperation.executeTool,
        [GenAiAttr.toolName]: tool.name,
        [KeelAttr.toolVersion]: tool.version,
      });
      const started = performance.now();
      // Not AbortSignal.timeout: its timer is not cleared when the call ends, so every call
      // that finished in time still built a TimeoutError (stack included) when it fired.
      const controller = new AbortController();
      const timer = setTimeout(
        () =>
          controller.abort(
            new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
          ),
        tool.timeoutMs,
      );
      const signal = controller.signal;
      const deliveries: DeliveryRequest[] = [];
      const deliver = (d: DeliveryRequest): string => {
        deliveries.push(d);
        return deliveryIdFor(deliveries.length - 1);
      };
      let onAbort: (() => void) | undefined;
      try {
        const raw = await Promise.race([
          tool.execute(input, { ...ctx, signal, deliver }),
          new Promise<never>((_, reject) => {
            onAbort = () =>
              reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
            signal.addEventListener('abort', onAbort, { once: true });
          }),
        ]);
        const output = tool.output.safeParse(raw);
        if (!output.success) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: 'INVALID_OUTPUT' });
          return {
            ok: false,
            error: new ToolError('INVALID_OUTPUT', summarise(output.error.issues), 'permanent'),
          };
        }
        return {
          ok: true,
          output: output.data as Record<string, unknown>,
          durationMs: Math.round((performance.now() - started) * 1000) / 1000,
          deliveries,
        };
      } catch (err) {
        const error = classifyToolError(tool, err, signal.aborted);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error.code });
        span.setAttribute('error.type', error.code);
        return { ok: false, error };
      } finally {
        clearTimeout(timer);
        if (onAbort) signal.removeEventListener('abort', onAbort);
        span.end();
      }
    },
  );
}

export const summarise = (issues: readonly { path: PropertyKey[]; message: string }[]) =>
  issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
