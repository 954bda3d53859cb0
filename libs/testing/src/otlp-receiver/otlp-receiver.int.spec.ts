import { join } from 'node:path';
import { bundleFixture } from '../fixtures/bundle-fixture';
import { spawnService, stopAll, type ServiceHandle } from '../service-process/spawn-service';
import { startOtlpReceiver, type OtlpReceiver } from './otlp-receiver';
import { OtlpSpanKind, OtlpStatusCode } from './otlp-json';

/**
 * Contract test: the receiver decodes what the real OTLP/HTTP exporter sends.
 * The exporter (with BasicTracerProvider) runs in a child process: it loads
 * `http` through a dynamic import that jest's sandbox does not support.
 */
describe('OTLP receiver', () => {
  let receiver: OtlpReceiver;
  const handles: ServiceHandle[] = [];
  const cleanups: (() => void)[] = [];

  beforeEach(async () => {
    receiver = await startOtlpReceiver();
  });
  afterEach(async () => {
    await stopAll(handles.splice(0));
    await receiver.close();
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  it('flattens what the real exporter sends: service, ids, parent, kind, typed attributes, status', async () => {
    const bundle = await bundleFixture(join(__dirname, '../fixtures/export-spans.fixture.ts'));
    cleanups.push(bundle.remove);
    const fixture = spawnService({
      name: 'export-fixture',
      entry: bundle.entry,
      env: { FIXTURE_OTLP_URL: `${receiver.endpoint}/v1/traces` },
    });
    handles.push(fixture);

    const ids = JSON.parse((await fixture.waitForLog(/^\{.*"traceId".*\}$/m, 20_000))[0]) as {
      traceId: string;
      parentSpanId: string;
      childSpanId: string;
    };
    expect(await fixture.exited).toEqual({ code: 0, signal: null });
    const spans = await receiver.waitFor((all) => all.length >= 2);
    const child = spans.find((s) => s.name === 'child')!;
    const parent = spans.find((s) => s.name === 'parent')!;

    expect(child).toMatchObject({
      service: 'export-fixture',
      scope: 'fixture-scope',
      traceId: ids.traceId,
      spanId: ids.childSpanId,
      parentSpanId: ids.parentSpanId,
      kind: OtlpSpanKind.client,
      attributes: {
        'keel.run.id': 'run-1',
        'keel.step': 3,
        ratio: 0.5,
        ok: true,
        tags: '["a","b"]',
      },
      status: { code: OtlpStatusCode.error, message: 'boom' },
    });
    expect(parent).toMatchObject({
      traceId: ids.traceId,
      spanId: ids.parentSpanId,
      parentSpanId: '',
      kind: OtlpSpanKind.server,
      status: { code: OtlpStatusCode.unset },
    });
    expect(receiver.rejected).toEqual([]);
  });

  it('waitForSpan resolves on a later export, and times out naming what it saw', async () => {
    const waiting = receiver.waitForSpan((s) => s.name === 'late');
    const res = await fetch(`${receiver.endpoint}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        resourceSpans: [
          {
            resource: {
              attributes: [{ key: 'service.name', value: { stringValue: 'hand-made' } }],
            },
            scopeSpans: [
              {
                scope: { name: 's' },
                spans: [
                  {
                    traceId: 'AAECAwQFBgcICQoLDA0ODw==',
                    spanId: 'AAECAwQFBgc=',
                    name: 'late',
                    kind: 1,
                  },
                ],
              },
            ],
          },
        ],
      }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
    // Base64 ids (proto3 JSON style) come out as hex, like the OTLP/JSON hex ids.
    await expect(waiting).resolves.toMatchObject({
      name: 'late',
      service: 'hand-made',
      traceId: '000102030405060708090a0b0c0d0e0f',
      spanId: '0001020304050607',
    });

    const timeout: unknown = await receiver
      .waitForSpan((s) => s.name === 'never', 100)
      .catch((e: unknown) => e);
    expect(timeout).toMatchObject({ name: 'WaitTimeoutError' });
    expect((timeout as Error).message).toContain('1 span(s) received, latest: hand-made:late');
  });

  it('refuses protobuf exports with 415', async () => {
    const res = await fetch(`${receiver.endpoint}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: new Uint8Array([1, 2, 3]),
    });
    expect(res.status).toBe(415);
    expect(receiver.rejected).toHaveLength(1);
    expect(receiver.spans()).toEqual([]);
  });

  it('keeps only the last `keepSpans` spans and `keepRawExports` bodies', async () => {
    const bounded = await startOtlpReceiver({ keepSpans: 3, keepRawExports: 1 });
    const post = (names: string[]) =>
      fetch(`${bounded.endpoint}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          resourceSpans: [
            {
              resource: { attributes: [{ key: 'service.name', value: { stringValue: 'x' } }] },
              scopeSpans: [
                {
                  spans: names.map((name, i) => ({
                    traceId: '000102030405060708090a0b0c0d0e0f',
                    spanId: `000000000000000${i}`,
                    name,
                    kind: 1,
                  })),
                },
              ],
            },
          ],
        }),
      });
    try {
      expect((await post(['a', 'b'])).status).toBe(200);
      expect((await post(['c', 'd'])).status).toBe(200);
      expect(bounded.spans().map((s) => s.name)).toEqual(['b', 'c', 'd']);
      expect(bounded.rawExports()).toHaveLength(1);
      expect(bounded.rawExports()[0]).toContain('"d"');
    } finally {
      await bounded.close();
    }
  });
});
