/** A bad command line: the command prints it with its usage and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface ParsedArgs {
  readonly positional: string[];
  readonly options: Map<string, string>;
  readonly flags: Set<string>;
}

/** `--name value` / `--name=value` options, boolean `--flag`s, positionals; anything else is a usage error. */
export function parseArgs(
  args: readonly string[],
  options: readonly string[],
  flags: readonly string[],
): ParsedArgs {
  const out: ParsedArgs = { positional: [], options: new Map(), flags: new Set() };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      out.positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    if (flags.includes(name) && eq < 0) {
      out.flags.add(name);
    } else if (options.includes(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      out.options.set(name, value);
    } else {
      throw new UsageError(`unknown option '${name}'`);
    }
  }
  return out;
}

/** The single positional argument, e.g. a run id; `missing` is the usage error when there is none. */
export function onePositional(a: ParsedArgs, missing: string): string {
  const [value, extra] = a.positional;
  if (value === undefined) throw new UsageError(missing);
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
  return value;
}

/** A whole number option in [min, max], or undefined when absent. */
export function intOption(
  a: ParsedArgs,
  name: string,
  min: number,
  max: number,
): number | undefined {
  const text = a.options.get(name);
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(`${name} must be a whole number in ${min}..${max}, got '${text}'`);
  return n;
}

/** An error as one line (pg reports a refused connection as an AggregateError with no message). */
export function oneLine(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return oneLine(err.errors[0]);
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s+/g, ' ').trim() || String(err);
}
