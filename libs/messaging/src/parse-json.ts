import type { z } from 'zod';
import { TerminalError } from './errors';

export const ParseErrorCode = {
  INVALID_JSON: 'INVALID_JSON',
  SCHEMA_INVALID: 'SCHEMA_INVALID',
} as const;

/**
 * Decodes a message payload as JSON and validates it. Failures throw
 * `TerminalError` (`INVALID_JSON` / `SCHEMA_INVALID`): a malformed message
 * will not become valid on redelivery, so the consumer dead-letters it at
 * once with a reason that says what was wrong. The reason names paths and zod
 * messages, never payload values.
 */
export function parseJson<T>(msg: { text(): string }, schema: z.ZodType<T>): T {
  const text = msg.text();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new TerminalError(
      ParseErrorCode.INVALID_JSON,
      `payload is not valid JSON (${text.length} chars)`,
      {
        cause: err,
      },
    );
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new TerminalError(
      ParseErrorCode.SCHEMA_INVALID,
      `payload does not match schema: ${summariseIssues(result.error.issues)}`,
      {
        cause: result.error,
      },
    );
  }
  return result.data;
}

/** `path: message; path: message` for at most `max` issues, e.g. `runId: Invalid UUID; (root): Required`. */
export function summariseIssues(issues: z.ZodError['issues'], max = 5): string {
  const parts = issues
    .slice(0, max)
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`);
  if (issues.length > max) parts.push(`(+${issues.length - max} more)`);
  return parts.join('; ');
}
