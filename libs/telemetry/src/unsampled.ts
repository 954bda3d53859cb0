import {
  context,
  createContextKey,
  INVALID_SPAN_CONTEXT,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanKind,
  type SpanOptions,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { SamplingDecision, type Sampler, type SamplingResult } from '@opentelemetry/sdk-trace-base';

/**
 * Work of a trace that is not sampled runs without any span in its context:
 * only its W3C trace context rides along, under this key, so the events it
 * appends and the messages it sends still carry it (every hop of the run keeps
 * the same "not sampled" decision). With no span in the context, the pg
 * instrumentation (`requireParentSpan`), the http one (its ignore hook, see
 * start-telemetry.ts) and Keel's own spans skip their work entirely; before,
 * they built, activated and ended a non-recording span around every delivery,
 * query and request of the unsampled runs nobody exports.
 */
const UNSAMPLED = createContextKey('keel.unsampled-trace-context');

interface CarriedTraceContext {
  readonly traceparent: string;
  readonly tracestate: string | undefined;
}

/** `base` carrying a not-sampled W3C trace context (and no span). */
export function unsampledContext(
  base: Context,
  traceparent: string,
  tracestate: string | undefined,
): Context {
  const carried: CarriedTraceContext = { traceparent, tracestate };
  return trace.deleteSpan(base).setValue(UNSAMPLED, carried);
}

/** Whether `ctx` is work of a trace that is not sampled (no span, only its context). */
export function isUnsampled(ctx: Context): boolean {
  return ctx.getValue(UNSAMPLED) !== undefined && trace.getSpan(ctx) === undefined;
}

/** A span that records nothing and is never made active: what unsampled work's handlers get. */
const NOT_RECORDED: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * `tracer.startActiveSpan(name, options, parent, fn)`, except for work whose
 * trace is not sampled: then `fn` runs in `parent` with a span that records
 * nothing and is not active, so nothing below it instruments. A root (no
 * parent) that the sampler does not sample turns into such work too.
 */
export function startActiveSpanSampled<T>(
  tracer: Tracer,
  name: string,
  options: SpanOptions,
  parent: Context,
  fn: (span: Span) => T,
): T {
  if (isUnsampled(parent)) return context.with(parent, () => fn(NOT_RECORDED));
  if (trace.getSpan(parent) === undefined) {
    const root = tracer.startSpan(name, options, parent);
    if (!root.isRecording()) {
      const sc = root.spanContext();
      root.end();
      const traceparent = `00-${sc.traceId}-${sc.spanId}-${sc.traceFlags.toString(16).padStart(2, '0')}`;
      const unsampled = unsampledContext(parent, traceparent, sc.traceState?.serialize());
      return context.with(unsampled, () => fn(NOT_RECORDED));
    }
    return context.with(trace.setSpan(parent, root), () => fn(root));
  }
  return tracer.startActiveSpan(name, options, parent, fn);
}

/**
 * W3C trace context, plus the context of unsampled work: injected as it came
 * in, so the next hop makes the same decision instead of drawing a new root.
 */
export class KeelPropagator implements TextMapPropagator {
  private readonly w3c = new W3CTraceContextPropagator();

  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const carried = ctx.getValue(UNSAMPLED) as CarriedTraceContext | undefined;
    if (carried && trace.getSpanContext(ctx) === undefined) {
      setter.set(carrier, 'traceparent', carried.traceparent);
      if (carried.tracestate) setter.set(carrier, 'tracestate', carried.tracestate);
      return;
    }
    this.w3c.inject(ctx, carrier, setter);
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    return this.w3c.extract(ctx, carrier, getter);
  }

  fields(): string[] {
    return this.w3c.fields();
  }
}

/**
 * Never records under unsampled work (a span started there by code that did
 * not use `startActiveSpanSampled` must not begin a new, sampled trace of its
 * own); otherwise `inner` decides.
 */
export class KeelSampler implements Sampler {
  constructor(private readonly inner: Sampler) {}

  shouldSample(
    ctx: Context,
    traceId: string,
    name: string,
    kind: SpanKind,
    attributes: Attributes,
    links: Link[],
  ): SamplingResult {
    if (isUnsampled(ctx)) return { decision: SamplingDecision.NOT_RECORD };
    return this.inner.shouldSample(ctx, traceId, name, kind, attributes, links);
  }

  toString(): string {
    return `KeelSampler{${this.inner.toString()}}`;
  }
}
