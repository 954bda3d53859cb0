import type { z } from 'zod';

/**
 * Every error the API answers has one shape: `{ error: { code, message },
 * issues? }`. `code` is stable (clients branch on it); `issues` are zod's,
 * for bad input.
 */
export const ApiErrorCode = {
  BAD_REQUEST: 'BAD_REQUEST',
  INVALID_JSON: 'INVALID_JSON',
  UNAUTHORIZED: 'UNAUTHORIZED',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  IDEMPOTENCY_KEY_REUSED: 'IDEMPOTENCY_KEY_REUSED',
  INVALID_DECISION: 'INVALID_DECISION',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNAVAILABLE: 'UNAVAILABLE',
  INTERNAL: 'INTERNAL',
} as const;
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

export interface ApiErrorBody {
  error: { code: string; message: string };
  issues?: z.core.$ZodIssue[];
}

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: z.core.$ZodIssue[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  body(): ApiErrorBody {
    return {
      error: { code: this.code, message: this.message },
      ...(this.issues ? { issues: this.issues } : {}),
    };
  }
}

export const notFound = (what: string) =>
  new ApiError(404, ApiErrorCode.NOT_FOUND, `${what} not found`);
