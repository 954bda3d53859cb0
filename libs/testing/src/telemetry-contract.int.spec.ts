import { join } from 'node:path';
import { bundleFixture, type BundledFixture } from './fixtures/bundle-fixture';
import { spawnService, stopAll, type ServiceHandle } from './service-process/spawn-service';
import { startOtlpReceiver, type OtlpReceiver } from './otlp-receiver/otlp-receiver';
import { OtlpSpanKind } from './otlp-receiver/otlp-json';

/**
 * `@keel/telemetry` in a real process (bundled like the apps): what reaches
 * the collector, and what must never reach it. Lives in libs/testing because
 * it needs the OTLP receiver, and telemetry may not depend on testing.
 * Needs PostgreSQL: KEEL_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres.
 */
const SECRET_PARAM = 'SECRET-PARAM-VALUE-3f9c';
const DATABASE_URL =
  process.env['KEEL_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

describe('startTelemetry in a service process', () => {
  let receiver: OtlpReceiver;
  let bundle: BundledFixture;
  const handles: ServiceHandle[] = [];

  beforeAll(async () => {
    bundle = await bundleFixture(join(__dirname, 'fixtures/traced-service/main.ts'));
  });
  afterAll(() => bundle?.remove());
  beforeEach(async () => {
    receiver = await startOtlpReceiver();
  });
  afterEach(async () => {
    await stopAll(handles.splice(0));
    await receiver.close();
  });

  const run = (env: Record<string, string>) => {
    const svc = spawnService({
      name: 'traced-service',
      entry: bundle.entry,
      env: {
        FIXTURE_DATABASE_URL: DATABASE_URL,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        ...env,
      },
    });
    handles.push(svc);
    return svc;
  };

  it('exports pg, http and fetch spans under the active span, without SQL parameter values', async () => {
    const svc = run({});
    expect(await svc.exited).toEqual({ code: 0, signal: null });

    const step = await receiver.waitForSpan((s) => s.name === 'keel.planner.step');
    const spans = await receiver.waitFor(
      (all) =>
        all.some((s) => s.scope.includes('instrumentation-pg') && s.traceId === step.traceId) &&
        all.some((s) => s.scope.includes('instrumentation-undici')) &&
        all.some((s) => s.scope.includes('instrumentation-http') && s.kind === OtlpSpanKind.server),
    );
    const inTrace = spans.filter((s) => s.traceId === step.traceId);

    expect(step).toMatchObject({
      service: 'fixture-service',
      attributes: { 'keel.run.id': 'run-fixture' },
    });
    const query = inTrace.find(
      (s) => s.scope.includes('instrumentation-pg') && /select/i.test(JSON.stringify(s.attributes)),
    )!;
    expect(query.parentSpanId).toBe(step.spanId);
    expect(JSON.stringify(query.attributes)).toContain('$1');
    // The contract: no parameter value in any span of the process.
    expect(JSON.stringify(spans)).not.toContain(SECRET_PARAM);
    // fetch (undici) client span under the step; the http server span under it (W3C propagation).
    const fetchSpan = inTrace.find(
      (s) => s.scope.includes('instrumentation-undici') && s.kind === OtlpSpanKind.client,
    )!;
    const serverSpan = inTrace.find(
      (s) => s.scope.includes('instrumentation-http') && s.kind === OtlpSpanKind.server,
    )!;
    expect(fetchSpan.parentSpanId).toBe(step.spanId);
    expect(serverSpan.parentSpanId).toBe(fetchSpan.spanId);

    // The log line carries the trace and the run.
    const line = svc
      .logs()
      .split('\n')
      .filter((l) => l.includes('"step done"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)[0];
    expect(line).toMatchObject({
      service: 'fixture-service',
      trace_id: step.traceId,
      run_id: 'run-fixture',
      step: 1,
    });
  });

  it('sends nothing at all when no endpoint is given, yet still logs a trace id', async () => {
    const svc = run({ FIXTURE_EXPORT: 'off' });

    // Once the process has exited, everything it would have sent has been sent.
    expect(await svc.exited).toEqual({ code: 0, signal: null });
    expect(receiver.spans()).toEqual([]);
    expect(receiver.rejected).toEqual([]); // no metrics or logs exports either
    expect(svc.logs()).toMatch(
      /"trace_id":"[0-9a-f]{32}".*"msg":"step done"|"msg":"step done".*"trace_id":"[0-9a-f]{32}"/,
    );
  });
});
