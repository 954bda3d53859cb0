import { checkRun, replaySteps, ReplayRangeError, stateAt } from '@keel/run-domain';
import { intOption, oneLine, onePositional, parseArgs, UsageError } from '../cli-kit/args';
import { withPool } from '../cli-kit/connections';
import { runCommand, type CliIo } from '../cli-kit/io';
import { decisionPolicyFromEnv } from '../replay/decision-policy';
import { formatChange, formatDivergence, formatState } from '../replay/format-state';
import { asRunEvents, assertRunId, readRun, RunNotFoundError } from '../replay/read-run';

export const REPLAY_USAGE = `usage: keel replay <run-id> [--to N] [--diff] [--check] [--json]
  (default)   the run's state rebuilt from its stream (the planner's own fold)
  --to N      the state after event N (time travel)
  --diff      what each event changed, field by field (up to --to N)
  --check     re-run today's planner decisions against the recorded model replies and tool
              outcomes; exit 1 naming the first event that differs, 0 when none does
  --json      machine-readable output`;

/**
 * `keel replay`: read a run's history from the event log and rebuild it. Pure
 * logic in libs/run-domain/src/replay; this reads the stream and prints.
 * Exit codes: 0 ok (or no divergence), 1 divergence / unknown run / error, 2 usage.
 */
export async function replay(args: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  return runCommand(
    'keel replay',
    REPLAY_USAGE,
    io,
    async () => {
      const a = parseArgs(args, ['--to'], ['--diff', '--check', '--json', '--help']);
      if (a.flags.has('--help')) {
        io.out(REPLAY_USAGE);
        return 0;
      }
      const runId = assertRunId(onePositional(a, 'which run? give its id?'));
      const to = intOption(a, '--to', 1, 2_147_483_647);
      const json = a.flags.has('--json');
      if (a.flags.has('--check') && (to !== undefined || a.flags.has('--diff')))
        throw new UsageError('--check replays the whole run: use it without --to and --diff');
      const policy = a.flags.has('--check') ? decisionPolicyFromEnv(env) : undefined;
      const recorded = await withPool(env, 'keel-replay', (pool) => readRun(pool, runId));
      const events = asRunEvents(recorded);

      if (policy) {
        const report = checkRun(events, policy);
        if (json) io.out(JSON.stringify({ runId, events: events.length, ...report }, null, 2));
        else if (report.divergence) formatDivergence(report.divergence).forEach((l) => io.out(l));
        else
          io.out(
            `✔ ${report.decisions} decisions re-derived, no divergence (${report.checkedEvents} events of run ${runId})`,
          );
        return report.divergence ? 1 : 0;
      }
      if (a.flags.has('--diff')) {
        const steps = replaySteps(events, to);
        if (json) {
          io.out(
            JSON.stringify(
              { runId, events: events.length, steps: steps.map(({ state: _s, ...s }) => s) },
              null,
              2,
            ),
          );
          return 0;
        }
        for (const s of steps) {
          io.out(`#${s.version} ${s.type}`);
          s.changes.forEach((c) => io.out(formatChange(c)));
        }
        return 0;
      }
      const at = to ?? events.length;
      const state = stateAt(events, at);
      if (json) {
        io.out(JSON.stringify({ runId, events: events.length, at, state }, null, 2));
        return 0;
      }
      io.out(
        `run ${runId}: state after event ${at} of ${events.length} (${events[at - 1]!.event.type})`,
      );
      formatState(state).forEach((l) => io.out(l));
      return 0;
    },
    (err) =>
      err instanceof RunNotFoundError || err instanceof ReplayRangeError
        ? err.message
        : oneLine(err),
  );
}
