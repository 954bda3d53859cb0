import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { GenAiAttr, GenAiOperation, genAiSpanName, startActiveSpanSampled } from '@keel/telemetry';
import type { ModelCallError, ModelClient, ModelReply } from './model-client';

const tracer = trace.getTracer('keel-planner');

/**
 * One model call in a CLIENT span with the GenAI attributes (system, models,
 * token usage) and never the prompt or the completion. A failure is turned
 * into a classified `ModelCallError` by `classify`, marked on the span, and
 * thrown.
 */
export function inModelCallSpan(
  client: Pick<ModelClient, 'system' | 'model'>,
  classify: (err: unknown) => ModelCallError,
  call: () => Promise<ModelReply>,
): Promise<ModelReply> {
  const name = genAiSpanName(GenAiOperation.chat, client.model);
  return startActiveSpanSampled(
    tracer,
    name,
    { kind: SpanKind.CLIENT },
    context.active(),
    async (span) => {
      span.setAttributes({
        [GenAiAttr.operationName]: GenAiOperation.chat,
        [GenAiAttr.system]: client.system,
        [GenAiAttr.requestModel]: client.model,
      });
      try {
        const reply = await call();
        span.setAttributes({
          [GenAiAttr.responseModel]: reply.model,
          [GenAiAttr.usageInputTokens]: reply.usage.inputTokens,
          [GenAiAttr.usageOutputTokens]: reply.usage.outputTokens,
        });
        return reply;
      } catch (err) {
        const e = classify(err);
        span.setStatus({ code: SpanStatusCode.ERROR, message: e.code });
        span.setAttribute('error.type', e.code);
        throw e;
      } finally {
        span.end();
      }
    },
  );
}
