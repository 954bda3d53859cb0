import type { z } from 'zod';
import { ApiError, ApiErrorCode } from './api-error';

/** Parse request input with its zod schema; failure → 400 with zod's issues. */
export function parseInput<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
): z.infer<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw new ApiError(
    400,
    ApiErrorCode.BAD_REQUEST,
    `invalid ${what}: ${r.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ')}`,
    r.error.issues,
  );
}
