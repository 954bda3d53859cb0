import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import {
  isUnsampled,
  KeelPropagator,
  KeelSampler,
  startActiveSpanSampled,
  unsampledContext,
} from './unsampled';

const TRACEPARENT = `00-${'c3'.repeat(16)}-${'d4'.repeat(8)}-00`;

describe('unsampled work', () => {
  const exporter = new InMemorySpanExporter();
  const contextManager = new AsyncLocalStorageContextManager();
  const tracerWith = (root: Sampler) =>
    new BasicTracerProvider({
      sampler: new KeelSampler(new ParentBasedSampler({ root })),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    }).getTracer('test');
  const injected = (ctx = context.active()) => {
    const carrier: Record<string, string> = {};
    propagation.inject(ctx, carrier);
    return carrier;
  };

  beforeAll(() => {
    context.setGlobalContextManager(contextManager.enable());
    propagation.setGlobalPropagator(new KeelPropagator());
  });
  afterAll(() => {
    propagation.disable();
    context.disable();
  });
  beforeEach(() => exporter.reset());

  it('runs under the carried context with no active span, and injects it unchanged', () => {
    const tracer = tracerWith(new AlwaysOnSampler());
    const ctx = unsampledContext(ROOT_CONTEXT, TRACEPARENT, 'k=v');
    const seen = startActiveSpanSampled(tracer, 'work', {}, ctx, (span) => ({
      recording: span.isRecording(),
      active: trace.getSpan(context.active()),
      carrier: injected(),
    }));
    expect(seen).toEqual({
      recording: false,
      active: undefined,
      carrier: { traceparent: TRACEPARENT, tracestate: 'k=v' },
    });
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it('turns a root the sampler does not sample into unsampled work of its own trace', () => {
    const tracer = tracerWith(new AlwaysOffSampler());
    const { unsampled, carrier } = startActiveSpanSampled(tracer, 'root', {}, ROOT_CONTEXT, () => ({
      unsampled: isUnsampled(context.active()),
      carrier: injected(),
    }));
    expect(unsampled).toBe(true);
    expect(carrier.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it('records a sampled root and its children as before', () => {
    const tracer = tracerWith(new AlwaysOnSampler());
    startActiveSpanSampled(tracer, 'root', {}, ROOT_CONTEXT, (root) => {
      startActiveSpanSampled(tracer, 'child', {}, context.active(), (child) => child.end());
      root.end();
    });
    const [child, root] = exporter.getFinishedSpans();
    expect(root?.name).toBe('root');
    expect(child?.parentSpanContext?.spanId).toBe(root?.spanContext().spanId);
  });

  it('never starts a sampled trace under unsampled work, even through the plain tracer', () => {
    const tracer = tracerWith(new AlwaysOnSampler());
    const ctx = unsampledContext(ROOT_CONTEXT, TRACEPARENT, undefined);
    const span = tracer.startSpan('stray', {}, ctx);
    expect(span.isRecording()).toBe(false);
    span.end();
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
