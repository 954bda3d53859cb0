import { oneLine, UsageError } from './args';

/** Where a command writes: results to `out` (stdout), diagnostics to `err` (stderr). */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

/** How a command reports what stopped it, one line each. */
type Failure = (err: unknown) => string;

/**
 * The common shape of a subcommand family (`keel dlq`, `keel runs`, …): a
 * usage error is one line with the help hint and exit 2, any other failure
 * one line (`describe`, default `oneLine`) and exit 1.
 */
export function runCli(
  prefix: string,
  io: CliIo,
  body: () => Promise<number>,
  describe: Failure = oneLine,
): Promise<number> {
  return exitCode(prefix, io, body, (m) => `${m} (see '${prefix} help')`, describe);
}

/**
 * The common shape of a single command (`keel run`, `keel replay`, …): a
 * usage error is its message followed by the whole usage, exit 2; any other
 * failure one line (`describe`, default `oneLine`), exit 1.
 */
export function runCommand(
  prefix: string,
  usage: string,
  io: CliIo,
  body: () => Promise<number>,
  describe: Failure = oneLine,
): Promise<number> {
  return exitCode(prefix, io, body, (m) => `${m}\n${usage}`, describe);
}

/**
 * `<prefix> <sub> …`: runs `commands[sub]` with the rest of the arguments,
 * under `runCli`. No subcommand: the usage on stderr, exit 2; `help`,
 * `--help`, `-h`: the usage on stdout, exit 0; anything else: a usage error.
 */
export function runSubcommands(
  prefix: string,
  usage: string,
  argv: readonly string[],
  io: CliIo,
  commands: Readonly<Record<string, (rest: string[]) => Promise<number>>>,
  describe: Failure = oneLine,
): Promise<number> {
  const [sub, ...rest] = argv;
  return runCli(
    prefix,
    io,
    async () => {
      if (sub === undefined) {
        io.err(usage);
        return 2;
      }
      if (sub === 'help' || sub === '--help' || sub === '-h') {
        io.out(usage);
        return 0;
      }
      const command = Object.hasOwn(commands, sub) ? commands[sub] : undefined;
      if (command === undefined) throw new UsageError(`unknown command '${sub}'`);
      return command(rest);
    },
    describe,
  );
}

async function exitCode(
  prefix: string,
  io: CliIo,
  body: () => Promise<number>,
  usageLine: (message: string) => string,
  describe: Failure,
): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${prefix}: ${usageLine(err.message)}`);
      return 2;
    }
    io.err(`${prefix}: ${describe(err)}`);
    return 1;
  }
}
