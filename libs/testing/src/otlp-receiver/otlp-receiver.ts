import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from '../http-body';
import { keepLast } from '../keep-last';
import { closeServer, listen, sendJson } from '../http-server';
import { waitFor } from '../wait-for';
import { flattenTraceExport, type ReceivedSpan } from './otlp-json';

export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>`: the value for `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  endpoint: string;
  /** Every span received so far, in arrival order (a copy). */
  spans(): ReceivedSpan[];
  /**
   * Every accepted export body as received (text), in arrival order: what a
   * search for leaked values needs, since `spans()` leaves out span events,
   * links and status messages.
   */
  rawExports(): string[];
  /**
   * Resolves with all spans once `predicate(allSpans)` holds, e.g.
   * "spans of three services share one trace id". Rejects after `timeoutMs`.
   */
  waitFor(
    predicate: (spans: readonly ReceivedSpan[]) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedSpan[]>;
  /** Resolves with the first span matching `predicate`. */
  waitForSpan(
    predicate: (span: ReceivedSpan) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedSpan>;
  /** Exports refused (not JSON, wrong path), with the reason. */
  readonly rejected: { path: string; contentType: string; status: number; reason: string }[];
  close(): Promise<void>;
}

const MAX_EXPORT_BYTES = 32 * 1024 * 1024;

export interface OtlpReceiverOptions {
  /**
   * How many spans `spans()` keeps, the oldest dropped first. Default: all, for
   * tests. A sink that serves for long (`keel up`'s, the benchmark's) sets a bound.
   */
  keepSpans?: number;
  /** How many export bodies `rawExports()` keeps, the oldest dropped first. Default: all. */
  keepRawExports?: number;
}

/**
 * A minimal OTLP/HTTP trace collector for tests: accepts JSON exports on
 * `POST /v1/traces` (what `@opentelemetry/exporter-trace-otlp-http` sends) and
 * keeps the spans in memory. Protobuf exports get 415 and are listed in `rejected`.
 */
export async function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const keepSpans = options.keepSpans ?? Infinity;
  const keepRaw = options.keepRawExports ?? Infinity;
  const received: ReceivedSpan[] = [];
  const raw: string[] = [];
  const rejected: OtlpReceiver['rejected'] = [];

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const contentType = req.headers['content-type'] ?? '';
    const refuse = (status: number, reason: string) => {
      rejected.push({ path, contentType, status, reason });
      sendJson(res, status, { code: status, message: reason });
    };
    const body = await readBody(req, MAX_EXPORT_BYTES);
    if (req.method !== 'POST' || path !== '/v1/traces')
      return refuse(404, `no route for ${req.method ?? '?'} ${path}`);
    if (!contentType.startsWith('application/json'))
      return refuse(415, `only OTLP/JSON is accepted, got '${contentType}'`);
    let spans: ReceivedSpan[];
    const text = body.toString('utf8');
    try {
      spans = flattenTraceExport(JSON.parse(text));
    } catch (err) {
      return refuse(400, err instanceof Error ? err.message : String(err));
    }
    keepLast(received, keepSpans, ...spans);
    keepLast(raw, keepRaw, text);
    sendJson(res, 200, {});
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      rejected.push({
        path: req.url ?? '',
        contentType: req.headers['content-type'] ?? '',
        status: 500,
        reason: String(err),
      });
      if (!res.headersSent) sendJson(res, 500, { message: String(err) });
    });
  });
  await listen(server, 0, '127.0.0.1');
  const { port } = server.address() as AddressInfo;

  const summary = () => {
    const names = received.slice(-20).map((s) => `${s.service}:${s.name}`);
    return `${received.length} span(s) received${names.length ? `, latest: ${names.join(', ')}` : ''}`;
  };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans: () => [...received],
    rawExports: () => [...raw],
    rejected,
    waitFor: (predicate, timeoutMs = 10_000) =>
      waitFor(() => (predicate(received) ? [...received] : undefined), {
        timeoutMs,
        intervalMs: 25,
        description: () => `spans matching the predicate (${summary()})`,
      }),
    waitForSpan: (predicate, timeoutMs = 10_000) =>
      waitFor(() => received.find(predicate), {
        timeoutMs,
        intervalMs: 25,
        description: () => `a span matching the predicate (${summary()})`,
      }),
    close: () => closeServer(server),
  };
}
