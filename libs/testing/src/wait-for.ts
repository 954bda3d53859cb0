export interface WaitForOptions {
  /** Give up after this long. Default 10 000 ms. */
  timeoutMs?: number;
  /** Pause between attempts. Default 50 ms. */
  intervalMs?: number;
  /** What is awaited, in words: it is the timeout error's message. A function is called at timeout (to report state then). */
  description: string | (() => string);
}

export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError';
  readonly code = 'WAIT_TIMEOUT';
  constructor(
    message: string,
    /** The last error `fn` threw, if its last attempt threw. */
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/**
 * Polls `fn` until it returns a truthy value, and returns that value. An
 * attempt that throws counts as "not yet"; on timeout the error names the
 * description and the last thrown error, so a failing test says what it was
 * waiting for instead of just "timeout".
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  options: WaitForOptions,
): Promise<NonNullable<Awaited<T>>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let threw = false;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
      threw = false;
    } catch (err) {
      lastError = err;
      threw = true;
    }
    if (Date.now() >= deadline) {
      const detail = threw ? `; last attempt threw: ${describeError(lastError)}` : '';
      throw new WaitTimeoutError(
        `timed out after ${timeoutMs} ms waiting for ${describe(options.description)}${detail}`,
        threw ? lastError : undefined,
      );
    }
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now()))),
    );
  }
}

function describe(description: string | (() => string)): string {
  return typeof description === 'function' ? description() : description;
}

function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
