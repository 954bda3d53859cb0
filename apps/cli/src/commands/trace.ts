import { z } from 'zod';
import { parseConfig } from '@keel/runtime';
import { oneLine, onePositional, parseArgs } from '../cli-kit/args';
import { withPool } from '../cli-kit/connections';
import { assertRunId, readRun, RunNotFoundError } from '../replay/read-run';
import { runCommand, type CliIo } from '../cli-kit/io';

export const TRACE_USAGE = `usage: keel trace <run-id> [--json]
  the run's trace id (from its events' W3C traceparent) and its Jaeger link
  (KEEL_JAEGER_UI_URL, default http://localhost:16686)`;

const TraceEnv = z.object({
  KEEL_JAEGER_UI_URL: z.string().url().default('http://localhost:16686'),
});

/** `keel trace`: where to see a run's trace. Exit 0, 1 (unknown run, no trace), 2 (usage). */
export async function traceCommand(
  args: string[],
  env: NodeJS.ProcessEnv,
  io: CliIo,
): Promise<number> {
  return runCommand(
    'keel trace',
    TRACE_USAGE,
    io,
    async () => {
      const a = parseArgs(args, [], ['--json']);
      const runId = assertRunId(onePositional(a, 'which run? give its id?'));
      const base = parseConfig(TraceEnv, env).KEEL_JAEGER_UI_URL.replace(/\/+$/, '');
      const events = await withPool(env, 'keel-trace', (pool) => readRun(pool, runId));
      // Every event of a run carries the run's trace context; the first that has one names it.
      const traceparent = events.find((e) => e.metadata.traceparent)?.metadata.traceparent;
      const traceId = traceparent?.split('-')[1];
      if (!traceId || !/^[0-9a-f]{32}$/.test(traceId)) {
        io.err(`keel trace: run ${runId} has no trace context recorded (tracing was off)`);
        return 1;
      }
      const url = `${base}/trace/${traceId}`;
      io.out(a.flags.has('--json') ? JSON.stringify({ runId, traceId, url }) : url);
      return 0;
    },
    (err) => (err instanceof RunNotFoundError ? err.message : oneLine(err)),
  );
}
