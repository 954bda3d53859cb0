import { Writable } from 'node:stream';
import { context, trace, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { createLogger, REDACTED } from './logger';
import { withLogContext } from './log-context';

/** Collects pino's lines; pino writes one JSON line per call to a plain stream. */
function memoryDestination() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { stream, lines };
}

describe('createLogger', () => {
  const contextManager = new AsyncLocalStorageContextManager();
  beforeAll(() => context.setGlobalContextManager(contextManager.enable()));
  afterAll(() => {
    contextManager.disable();
    context.disable();
  });

  it('adds trace_id and span_id of the active span', () => {
    const { stream, lines } = memoryDestination();
    const log = createLogger({ service: 'test', destination: stream });
    const spanContext = {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: TraceFlags.SAMPLED,
    };
    const ctx = trace.setSpan(context.active(), trace.wrapSpanContext(spanContext));

    context.with(ctx, () => log.info('inside'));
    log.info('outside');

    expect(lines[0]).toMatchObject({
      msg: 'inside',
      service: 'test',
      level: 'info',
      trace_id: spanContext.traceId,
      span_id: spanContext.spanId,
    });
    expect(lines[1]).not.toHaveProperty('trace_id');
  });

  it('adds run_id and step inside withLogContext, across awaits, and nothing outside', async () => {
    const { stream, lines } = memoryDestination();
    const log = createLogger({ service: 'test', destination: stream });

    await withLogContext({ runId: 'run-1' }, async () => {
      await Promise.resolve();
      log.info('run only');
      await withLogContext({ runId: 'run-1', step: 3 }, async () => {
        await new Promise((resolve) => setImmediate(resolve));
        log.info('with step');
      });
    });
    log.info('after');

    expect(lines[0]).toMatchObject({ msg: 'run only', run_id: 'run-1' });
    expect(lines[0]).not.toHaveProperty('step');
    expect(lines[1]).toMatchObject({ msg: 'with step', run_id: 'run-1', step: 3 });
    expect(lines[2]).not.toHaveProperty('run_id');
  });

  it('redacts secrets at the top level, one level down and in headers', () => {
    const { stream, lines } = memoryDestination();
    const log = createLogger({ service: 'test', destination: stream });

    log.info(
      {
        apiKey: 'sk-top',
        model: { apiKey: 'sk-nested', name: 'm' },
        headers: { authorization: 'Bearer x', accept: 'json' },
      },
      'config',
    );

    const line = lines[0]!;
    expect(line['apiKey']).toBe(REDACTED);
    expect(line['model']).toEqual({ apiKey: REDACTED, name: 'm' });
    expect(line['headers']).toEqual({ authorization: REDACTED, accept: 'json' });
    expect(JSON.stringify(line)).not.toMatch(/sk-top|sk-nested|Bearer x/);
  });

  it('rejects an unknown KEEL_LOG_LEVEL', () => {
    const saved = process.env['KEEL_LOG_LEVEL'];
    process.env['KEEL_LOG_LEVEL'] = 'verbose';
    try {
      let error: unknown;
      try {
        createLogger({ service: 'test', destination: memoryDestination().stream });
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({ name: 'TelemetryConfigError', code: 'INVALID_LOG_LEVEL' });
    } finally {
      if (saved === undefined) delete process.env['KEEL_LOG_LEVEL'];
      else process.env['KEEL_LOG_LEVEL'] = saved;
    }
  });
});
