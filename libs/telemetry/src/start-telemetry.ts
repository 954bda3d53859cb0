/**
 * Process-wide OpenTelemetry set-up for a Keel service.
 *
 * ORDER MATTERS: call `startTelemetry` before `pg`, `http`, `undici` or
 * `@nestjs/core` are required anywhere in the process. The instrumentations
 * patch those modules when they are loaded; a module loaded earlier (or a
 * function destructured from it earlier) is never traced. Apps therefore start
 * with `import './instrument';` as the first line of `main.ts`, and
 * `instrument.ts` does nothing but call `startTelemetry`. (The exporter loads
 * `http` itself; core modules are patched in place on their next require, so
 * that is harmless. `pg` and `@nestjs/core` have no such second chance.)
 */
import { context, trace } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import {
  BatchSpanProcessor,
  NoopSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { envDetector, hostDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { NestInstrumentation } from '@opentelemetry/instrumentation-nestjs-core';
import { TelemetryConfigError } from './errors';
import { KeelPropagator, KeelSampler } from './unsampled';

export interface TelemetryOptions {
  /** `service.name` of every span: `planner`, `tool-executor`, ... */
  serviceName: string;
  serviceVersion?: string;
  /**
   * OTLP/HTTP base URL (e.g. `http://jaeger:4318`); spans go to `<endpoint>/v1/traces`.
   * Unset or empty: nothing is exported. Trace context is still created and
   * propagated, so log lines keep their `trace_id` and stay correlatable.
   */
  otlpEndpoint?: string;
  /** Fraction of new (root) traces sampled, 0..1; children follow their parent. Default 1. */
  sampleRatio?: number;
  /**
   * `OTEL_SDK_DISABLED=true`: start no SDK at all — no context propagation, no
   * instrumentation (the OpenTelemetry API stays a no-op). For measuring what
   * tracing costs; a deployment normally keeps it on and tunes the sample ratio.
   */
  disabled?: boolean;
  /**
   * Serve metrics for Prometheus on `http://<host>:<port>/metrics` (`KEEL_METRICS_PORT`,
   * `KEEL_METRICS_HOST`, default 127.0.0.1). Unset: no metrics are exported.
   */
  metrics?: { port: number; host?: string };
}

export interface Telemetry {
  /** Flushes pending spans and unregisters; idempotent. Call on graceful shutdown. */
  shutdown(): Promise<void>;
}

/** Short export delay so spans of short-lived processes (and tests) arrive promptly. */
const EXPORT_DELAY_MS = 500;

let started = false;

export function startTelemetry(options: TelemetryOptions): Telemetry {
  if (started) {
    throw new TelemetryConfigError(
      'ALREADY_STARTED',
      'startTelemetry was already called in this process',
    );
  }
  const sampleRatio = options.sampleRatio ?? 1;
  if (!Number.isFinite(sampleRatio) || sampleRatio < 0 || sampleRatio > 1) {
    throw new TelemetryConfigError(
      'INVALID_SAMPLE_RATIO',
      `sampleRatio must be within 0..1, got ${sampleRatio}`,
    );
  }
  if (options.disabled) return { shutdown: () => Promise.resolve() };
  const tracesUrl = tracesUrlOf(options.otlpEndpoint);

  const spanProcessors: SpanProcessor[] = tracesUrl
    ? [
        new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl }), {
          scheduledDelayMillis: EXPORT_DELAY_MS,
        }),
      ]
    : // A processor that drops everything keeps a real tracer provider in place:
      // spans get ids (for log correlation and W3C propagation) but are never sent.
      [new NoopSpanProcessor()];

  const sdk = new NodeSDK({
    serviceName: options.serviceName,
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: options.serviceName,
      ...(options.serviceVersion ? { [ATTR_SERVICE_VERSION]: options.serviceVersion } : {}),
    }),
    // No process detector: it would copy the command line into every export.
    resourceDetectors: [envDetector, hostDetector],
    spanProcessors,
    sampler: new KeelSampler(
      new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(sampleRatio) }),
    ),
    // W3C trace context, which unsampled work also carries (see unsampled.ts).
    textMapPropagator: new KeelPropagator(),
    // Explicit (Prometheus or none): otherwise NodeSDK falls back to OTEL_* env
    // defaults and starts OTLP metric and log exporters aimed at localhost.
    metricReaders: options.metrics
      ? [
          new PrometheusExporter({
            port: options.metrics.port,
            host: options.metrics.host ?? '127.0.0.1',
          }),
        ]
      : [],
    logRecordProcessors: [],
    instrumentations: [
      // Outgoing calls are traced only inside a recording span. Without one the request is
      // left alone entirely: `requireParentforOutgoingSpans` alone still builds the span's
      // attributes and wraps the request (most of this instrumentation's cost).
      new HttpInstrumentation({
        requireParentforOutgoingSpans: true,
        ignoreOutgoingRequestHook: () => trace.getSpan(context.active())?.isRecording() !== true,
      }),
      // Model calls (undici) and fetch: the same rule. Its `requireParentforSpans` alone still
      // parses the URL and the headers, builds the attributes and records a duration metric
      // for every request of an unsampled run.
      new UndiciInstrumentation({
        requireParentforSpans: true,
        ignoreRequestHook: () => trace.getSpan(context.active())?.isRecording() !== true,
      }),
      new PgInstrumentation({
        // Contract: SQL parameter values never land in traces (they hold event
        // payloads: prompts, tool results). Only the parameterised SQL text does.
        enhancedDatabaseReporting: false,
        // Background polling (outbox relay, leases) outside any traced operation
        // would otherwise start a new trace per query; unsampled work has no span.
        requireParentSpan: true,
      }),
      new NestInstrumentation(),
    ],
  });
  sdk.start();
  started = true;

  let stopping: Promise<void> | undefined;
  return {
    shutdown() {
      stopping ??= sdk.shutdown().finally(() => {
        started = false;
      });
      return stopping;
    },
  };
}

/** Options from the standard Keel environment (`OTEL_EXPORTER_OTLP_ENDPOINT`, `KEEL_TRACE_SAMPLE_RATIO`). */
export function telemetryOptionsFromEnv(
  serviceName: string,
  env: Record<string, string | undefined> = process.env,
): TelemetryOptions {
  const ratioText = env['KEEL_TRACE_SAMPLE_RATIO']?.trim();
  const sampleRatio = ratioText ? Number(ratioText) : undefined;
  if (sampleRatio !== undefined && Number.isNaN(sampleRatio)) {
    throw new TelemetryConfigError(
      'INVALID_SAMPLE_RATIO',
      `KEEL_TRACE_SAMPLE_RATIO is not a number: '${ratioText}'`,
    );
  }
  const portText = env['KEEL_METRICS_PORT']?.trim();
  const port = portText ? Number(portText) : undefined;
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new TelemetryConfigError(
      'INVALID_METRICS_PORT',
      `KEEL_METRICS_PORT is not a port number: '${portText}'`,
    );
  }
  const host = env['KEEL_METRICS_HOST']?.trim();
  return {
    serviceName,
    otlpEndpoint: env['OTEL_EXPORTER_OTLP_ENDPOINT'],
    ...(port !== undefined ? { metrics: { port, ...(host ? { host } : {}) } } : {}),
    ...(sampleRatio !== undefined ? { sampleRatio } : {}),
    ...(env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true' ? { disabled: true } : {}),
  };
}

function tracesUrlOf(endpoint: string | undefined): string | undefined {
  const base = endpoint?.trim().replace(/\/+$/, '');
  if (!base) return undefined;
  if (!/^https?:\/\/[^/]+/.test(base)) {
    throw new TelemetryConfigError(
      'INVALID_OTLP_ENDPOINT',
      `OTLP endpoint must be an http(s) URL, got '${base}'`,
    );
  }
  return `${base}/v1/traces`;
}
