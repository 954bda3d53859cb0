import { z } from 'zod';
import { defineTool, SideEffect } from '../tool-definition';

/** Returns a fixed ~200-byte object: the tool of the benchmark workload. */
export const noopTool = defineTool({
  name: 'noop',
  version: '1.0.0',
  description: 'Does nothing and returns a small fixed JSON object (for benchmarks and tests).',
  pool: 'default',
  sideEffect: SideEffect.Read,
  timeoutMs: 1000,
  input: z.object({ note: z.string().max(1000).optional() }).strict(),
  output: z.object({ ok: z.literal(true), echo: z.string(), padding: z.string() }),
  execute: ({ note }) =>
    Promise.resolve({ ok: true as const, echo: note ?? '', padding: 'x'.repeat(160) }),
});
