export type TelemetryErrorCode =
  | 'INVALID_SAMPLE_RATIO'
  | 'INVALID_OTLP_ENDPOINT'
  | 'INVALID_METRICS_PORT'
  | 'ALREADY_STARTED'
  | 'INVALID_LOG_LEVEL';

/** Misconfiguration found at start-up: the service should refuse to start. */
export class TelemetryConfigError extends Error {
  override name = 'TelemetryConfigError';
  constructor(
    readonly code: TelemetryErrorCode,
    message: string,
  ) {
    super(message);
  }
}
