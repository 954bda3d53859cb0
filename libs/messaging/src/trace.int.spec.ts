import type { KeelNames } from '@keel/contracts';
import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { headers as natsHeaders, type JetStreamManager, type NatsConnection } from 'nats';
import { KeelPropagator } from '@keel/telemetry';
import { z } from 'zod';
import { type ConsumerHandle, startConsumer } from './consumer';
import { captureLogger, connectTest, deleteStreams, testNames, waitFor } from './int-test-support';
import { publishJson } from './publish';
import { requestJson, type ServerHandle, serveJson } from './request-reply';
import { ensureConsumer, ensureStreams } from './topology';

describe('trace context over NATS', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager();
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let names: KeelNames;
  const stops: Array<ConsumerHandle | ServerHandle> = [];

  beforeAll(async () => {
    context.setGlobalContextManager(contextManager.enable());
    trace.setGlobalTracerProvider(provider);
    // W3C trace context, which work of a trace that is not sampled carries on unchanged.
    propagation.setGlobalPropagator(new KeelPropagator());
    nc = await connectTest();
    jsm = await nc.jetstreamManager();
    names = testNames();
    await ensureStreams(jsm, names);
  });

  afterAll(async () => {
    await Promise.all(stops.map((s) => s.stop()));
    await deleteStreams(jsm, names);
    await nc.close();
    await provider.shutdown();
    trace.disable();
    propagation.disable();
    context.disable();
  });

  it('continues the publisher’s trace in the consumer span, with the handler inside it', async () => {
    const durable = 'trace-consumer';
    await ensureConsumer(jsm, names.streams.events, {
      durable,
      filterSubject: names.subjects.event.pattern,
      maxAckPending: 100,
      ackWaitMs: 30_000,
      maxDeliver: 3,
    });
    let handlerSpanId: string | undefined;
    stops.push(
      startConsumer({
        js: nc.jetstream(),
        stream: names.streams.events,
        durable,
        concurrency: 2,
        names,
        logger: captureLogger(),
        maxDeliver: 3,
        handler: () => {
          handlerSpanId = trace.getActiveSpan()?.spanContext().spanId;
          return { kind: 'ack' };
        },
      }),
    );

    const tracer = trace.getTracer('test');
    const publisher = await tracer.startActiveSpan('publish run event', async (span) => {
      await publishJson(
        nc.jetstream(),
        names.subjects.event.build('run', '_', 'Traced', 'run-t'),
        { secret: 'MARKER-7' },
        { msgId: 'traced-1' },
      );
      span.end();
      return span.spanContext();
    });

    const name = `process ${names.streams.events}/${durable}`;
    const consumerSpan = await waitFor('consumer span', () =>
      exporter.getFinishedSpans().find((s) => s.name === name),
    );
    expect(consumerSpan.kind).toBe(SpanKind.CONSUMER);
    expect(consumerSpan.spanContext().traceId).toBe(publisher.traceId);
    expect(consumerSpan.parentSpanContext?.spanId).toBe(publisher.spanId);
    expect(handlerSpanId).toBe(consumerSpan.spanContext().spanId);
    expect(consumerSpan.attributes['messaging.system']).toBe('nats');
    expect(consumerSpan.attributes['messaging.destination.name']).toBe(
      names.subjects.event.build('run', '_', 'Traced', 'run-t'),
    );
    expect(consumerSpan.attributes['messaging.message.id']).toBe('traced-1');
    expect(consumerSpan.attributes['messaging.nats.delivery_count']).toBe(1);
    expect(JSON.stringify(consumerSpan.attributes)).not.toContain('MARKER-7');
  });

  it('continues the requester’s trace in the server span', async () => {
    const subject = names.subjects.budgetReserve.build();
    stops.push(
      serveJson(nc, subject, {
        queue: 'q',
        schema: z.object({ a: z.number() }),
        handler: (req) => ({ status: 'ok' as const, a: req.a }),
        logger: captureLogger(),
      }),
    );
    await nc.flush();

    const tracer = trace.getTracer('test');
    const requester = await tracer.startActiveSpan('ask', async (span) => {
      await requestJson(
        nc,
        subject,
        { a: 1 },
        { timeoutMs: 2000, schema: z.object({ status: z.literal('ok'), a: z.number() }) },
      );
      span.end();
      return span.spanContext();
    });

    const serverSpan = await waitFor('server span', () =>
      exporter.getFinishedSpans().find((s) => s.name === `serve ${subject}`),
    );
    expect(serverSpan.kind).toBe(SpanKind.SERVER);
    expect(serverSpan.spanContext().traceId).toBe(requester.traceId);
    expect(serverSpan.parentSpanContext?.spanId).toBe(requester.spanId);
  });

  it('runs work of an unsampled trace without any span, and passes its context on unchanged', async () => {
    const durable = 'unsampled-consumer';
    await ensureConsumer(jsm, names.streams.events, {
      durable,
      filterSubject: `${names.prefix}.evt.run._.Unsampled.*`,
      maxAckPending: 100,
      ackWaitMs: 30_000,
      maxDeliver: 3,
    });
    const traceId = 'a1'.repeat(16);
    const incoming = `00-${traceId}-${'b2'.repeat(8)}-00`;
    const onward = names.subjects.event.build('run', '_', 'Onward', 'run-u');
    const forwarded = nc.subscribe(onward, { max: 1 });
    const spanInHandler: unknown[] = [];
    stops.push(
      startConsumer({
        js: nc.jetstream(),
        stream: names.streams.events,
        durable,
        concurrency: 1,
        names,
        logger: captureLogger(),
        maxDeliver: 3,
        handler: async () => {
          spanInHandler.push(trace.getSpan(context.active()));
          await publishJson(nc.jetstream(), onward, { n: 1 }, { msgId: 'onward-1' });
          return { kind: 'ack' };
        },
      }),
    );
    const h = natsHeaders();
    h.set('traceparent', incoming);
    await nc
      .jetstream()
      .publish(names.subjects.event.build('run', '_', 'Unsampled', 'run-u'), new Uint8Array(), {
        headers: h,
        msgID: 'unsampled-1',
      });

    for await (const m of forwarded) {
      // The next hop gets the same "not sampled" decision, not a new root to draw for.
      expect(m.headers?.get('traceparent')).toBe(incoming);
    }
    // No span was active in the handler: the pg and http instrumentations skip such work.
    expect(spanInHandler).toEqual([undefined]);
    await provider.forceFlush();
    expect(exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId)).toEqual(
      [],
    );
  });
});
