import { z } from 'zod';
import { defineTool, SideEffect } from '../tool-definition';
import { evaluateArithmetic } from './arithmetic';

/** Evaluates an arithmetic expression: + - * / % ^, parentheses, unary minus. No eval. */
export const calculatorTool = defineTool({
  name: 'calculator',
  version: '1.0.0',
  description:
    'Evaluate an arithmetic expression, e.g. "(2 + 3) * 7". Supports + - * / % ^ and parentheses.',
  pool: 'default',
  sideEffect: SideEffect.Read,
  timeoutMs: 1000,
  input: z.object({ expression: z.string().min(1).max(500) }).strict(),
  output: z.object({ value: z.number() }),
  execute: ({ expression }) => Promise.resolve({ value: evaluateArithmetic(expression) }),
});
