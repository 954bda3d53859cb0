import { z } from 'zod';
import { defineTool, SideEffect } from '../tool-definition';

/** Waits `ms` milliseconds (aborted by the timeout): an I/O-bound tool for benchmarks and tests. */
export const sleepTool = defineTool({
  name: 'sleep',
  version: '1.0.0',
  description: 'Wait the given number of milliseconds, then return.',
  pool: 'slow',
  sideEffect: SideEffect.Read,
  timeoutMs: 10_000,
  input: z.object({ ms: z.number().int().min(0).max(9_000) }).strict(),
  output: z.object({ sleptMs: z.number() }),
  execute: ({ ms }, { signal }) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve({ sleptMs: ms }), ms);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new Error('aborted'));
      });
    }),
});
