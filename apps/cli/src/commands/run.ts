import { readFile } from 'node:fs/promises';
import { keelNames, RunRequest, uuidv7, type RelayedEvent, type RunEvent } from '@keel/contracts';
import { intOption, oneLine, parseArgs, UsageError, type ParsedArgs } from '../cli-kit/args';
import { cliConfig, withNats } from '../cli-kit/connections';
import { followRun } from '../follow/follow-run';
import { publishRunRequest } from '../follow/run-ingress';
import { RunProgress } from '../follow/run-progress';
import { runCommand, type CliIo } from '../cli-kit/io';

export const RUN_USAGE = `usage: keel run (--goal TEXT [--tenant T] [--tools a,b] [--request-id ID]
                 [--max-steps N] [--max-tool-calls N] [--max-tokens N] [--max-cost-usd X]
                 [--deadline-ms N] | --file request.json) [--timeout SECONDS] [--detach] [--json]
  publishes a run request (validated by the RunRequest schema) through the NATS ingress and
  follows the run live; --json prints its events as JSON lines, --detach only prints the run id.
  exit: 0 completed, 1 failed/cancelled/timed out, 3 degraded (partial answer),
        4 still running after --timeout (default 300 s), 2 usage or invalid request`;

const REQUEST_OPTIONS = [
  '--goal',
  '--tenant',
  '--tools',
  '--request-id',
  '--max-steps',
  '--max-tool-calls',
  '--max-tokens',
  '--max-cost-usd',
  '--deadline-ms',
];

/** Exit code per run ending (docs/operators-guide.md). */
const EXIT_BY_ENDING: Record<string, number> = {
  RunCompleted: 0,
  RunFailed: 1,
  RunCancelled: 1,
  RunTimedOut: 1,
  RunDegraded: 3,
};
const EXIT_STILL_RUNNING = 4;

/** `keel run`: start a run and follow it to its end. */
export async function run(args: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  return runCommand('keel run', RUN_USAGE, io, async () => {
    const a = parseArgs(args, [...REQUEST_OPTIONS, '--file', '--timeout'], ['--json', '--detach']);
    if (a.positional.length > 0) throw new UsageError(`unexpected argument '${a.positional[0]}'`);
    const request = await requestOf(a);
    const timeoutMs = (intOption(a, '--timeout', 1, 86_400) ?? 300) * 1000;
    const json = a.flags.has('--json');
    const names = keelNames(cliConfig(env).KEEL_PREFIX);
    return await withNats(env, 'keel-run', async (nc) => {
      const { runId, duplicate } = await publishRunRequest(nc, names, request);
      if (a.flags.has('--detach')) {
        io.out(json ? JSON.stringify({ runId, requestId: request.requestId, duplicate }) : runId);
        return 0;
      }
      if (!json)
        io.out(
          `▶ run ${runId} (tenant ${request.tenant}, request ${request.requestId}${duplicate ? ', already submitted' : ''})`,
        );
      const progress = new RunProgress(runId);
      let ending: RunEvent | undefined;
      const { ended } = await followRun({
        nc,
        names,
        runId,
        timeoutMs,
        onEvent: (e: RelayedEvent) => {
          if (json) io.out(JSON.stringify(e));
          for (const { version, event } of progress.add(e)) {
            if (!json)
              io.out(`  #${String(version).padEnd(3)} ${event.type.padEnd(22)} ${progress.line()}`);
            if (EXIT_BY_ENDING[event.type] !== undefined) ending = event;
          }
          return { ended: ending !== undefined };
        },
      });
      if (!ended || ending === undefined) {
        if (!json)
          io.out(`… run ${runId} has not ended after ${timeoutMs / 1000} s: ${progress.line()}`);
        return EXIT_STILL_RUNNING;
      }
      if (!json) resultLines(ending, progress).forEach((l) => io.out(l));
      return EXIT_BY_ENDING[ending.type]!;
    });
  });
}

/** The request from `--file` or from flags, validated by the ingress's own schema. */
async function requestOf(a: ParsedArgs): Promise<RunRequest> {
  const file = a.options.get('--file');
  let raw: unknown;
  if (file !== undefined) {
    const mixed = REQUEST_OPTIONS.filter((o) => a.options.has(o));
    if (mixed.length > 0) throw new UsageError(`--file replaces ${mixed.join(', ')}`);
    try {
      raw = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${oneLine(err)}`);
    }
  } else {
    const goal = a.options.get('--goal');
    if (goal === undefined)
      throw new UsageError('what should the run do? give --goal TEXT or --file');
    const num = (name: string) => {
      const v = a.options.get(name);
      if (v === undefined) return undefined;
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n))
        throw new UsageError(`${name} must be a number, got '${v}'`);
      return n;
    };
    const limits = Object.fromEntries(
      (
        [
          ['maxSteps', num('--max-steps')],
          ['maxToolCalls', num('--max-tool-calls')],
          ['maxTokens', num('--max-tokens')],
          ['maxCostUsd', num('--max-cost-usd')],
          ['deadlineMs', num('--deadline-ms')],
        ] as const
      ).filter(([, v]) => v !== undefined),
    );
    const tools = a.options.get('--tools');
    raw = {
      requestId: a.options.get('--request-id') ?? `cli-${uuidv7()}`,
      tenant: a.options.get('--tenant') ?? 'default',
      input: { prompt: goal },
      tools:
        tools === undefined
          ? []
          : tools
              .split(',')
              .map((t) => t.trim())
              .filter(Boolean),
      ...(Object.keys(limits).length > 0 ? { limits } : {}),
    };
  }
  const parsed = RunRequest.safeParse(raw);
  if (!parsed.success)
    throw new UsageError(
      `invalid run request: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

function resultLines(ending: RunEvent, progress: RunProgress): string[] {
  const cost = `${progress.line()}`;
  switch (ending.type) {
    case 'RunCompleted':
      return [`✔ completed: ${ending.data.answer}`, `  ${cost}`];
    case 'RunDegraded':
      return [
        `◐ degraded (${ending.data.reason.code}: ${ending.data.reason.message})`,
        `  answer: ${ending.data.answer}`,
        `  ${cost}`,
      ];
    case 'RunFailed':
      return [`✘ failed: ${ending.data.error.code} ${ending.data.error.message}`, `  ${cost}`];
    case 'RunCancelled':
      return [`✘ cancelled by ${ending.data.by}: ${ending.data.reason}`, `  ${cost}`];
    case 'RunTimedOut':
      return [
        `✘ timed out: deadline ${ending.data.deadlineAt} passed with nothing to return`,
        `  ${cost}`,
      ];
    default:
      return [];
  }
}
