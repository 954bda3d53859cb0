// Must be the first import of main.ts after zod/compile (which loads nothing OpenTelemetry
// patches): OpenTelemetry patches pg, http and undici only if it starts before they are required.
// Part of the composition root, so it may read process.env.
import { startTelemetry, telemetryOptionsFromEnv } from '@keel/telemetry';

export const telemetry = startTelemetry(telemetryOptionsFromEnv('tool-executor', process.env));
