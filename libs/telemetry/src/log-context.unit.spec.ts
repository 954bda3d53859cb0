import { context } from '@opentelemetry/api';
import { currentLogContext, withLogContext } from './log-context';

/** Without telemetry started: no context manager is registered until a log context needs one. */
describe('withLogContext without a registered context manager', () => {
  beforeAll(() => context.disable());
  afterAll(() => context.disable());

  it('keeps the context across awaits, merges nested ones, and keeps concurrent runs apart', async () => {
    const seen: unknown[] = [];
    const run = (runId: string, delayMs: number) =>
      withLogContext({ runId }, async () => {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        seen.push(currentLogContext());
        await withLogContext({ runId, step: 2 }, async () => {
          await new Promise((resolve) => setImmediate(resolve));
          seen.push(currentLogContext());
        });
        seen.push(currentLogContext());
      });
    await Promise.all([run('a', 20), run('b', 5)]);
    expect(seen).toEqual([
      { runId: 'b' },
      { runId: 'b', step: 2 },
      { runId: 'b' },
      { runId: 'a' },
      { runId: 'a', step: 2 },
      { runId: 'a' },
    ]);
    expect(currentLogContext()).toBeUndefined();
  });

  it('returns what the function returns, synchronously too', () => {
    expect(withLogContext({ runId: 'r' }, () => currentLogContext()?.runId)).toBe('r');
  });
});
