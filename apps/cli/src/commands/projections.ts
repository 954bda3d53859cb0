import { rebuildProjections } from '@keel/projections/store';
import { parseArgs, UsageError } from '../cli-kit/args';
import { withPool } from '../cli-kit/connections';
import { runSubcommands, type CliIo } from '../cli-kit/io';
import { explainMissingSummaries } from '../runs/missing-summaries';

/**
 * `keel projections rebuild`: truncate the read model (`run_summaries`,
 * `projection_positions`) and fold the whole event log into it again, in one
 * transaction (the API's projector waits meanwhile and resumes after). Safe
 * at any time: the log is the record, the read model is derived.
 */
export const PROJECTIONS_USAGE = `usage: keel projections <command>
  rebuild [--json]                 refold run_summaries from the whole event log`;

export function projections(args: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  return runSubcommands('keel projections', PROJECTIONS_USAGE, args, io, {
    rebuild: (rest) => rebuild(rest, env, io),
  });
}

async function rebuild(args: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const a = parseArgs(args, [], ['--json']);
  if (a.positional.length > 0) throw new UsageError(`unexpected argument '${a.positional[0]}'`);
  const started = Date.now();
  const r = await withPool(env, 'keel-projections', (pool) =>
    rebuildProjections(pool).catch(explainMissingSummaries),
  );
  if (a.flags.has('--json')) io.out(JSON.stringify({ ...r, ms: Date.now() - started }));
  else
    io.out(
      `rebuilt run_summaries: ${r.runs} runs from ${r.events} events (${r.streams} streams) in ${Date.now() - started} ms`,
    );
  if (r.gaps.length > 0) {
    io.err(`keel projections: streams with a missing version: ${r.gaps.join(', ')}`);
    return 1;
  }
  return 0;
}
