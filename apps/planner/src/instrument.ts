// Must be the first import of main.ts: OpenTelemetry patches pg, http and
// undici only if it starts before they are required. Part of the composition
// root, so it may read process.env.
import { startTelemetry } from '@keel/telemetry';

export const telemetry = startTelemetry({
  serviceName: 'planner',
  otlpEndpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT,
  sampleRatio: Number(process.env.KEEL_TRACE_SAMPLE_RATIO ?? '1'),
});
