export const DlqErrorCode = {
  /** No entry with that id. */
  NOT_FOUND: 'DLQ_NOT_FOUND',
  /** The operation does not apply to the entry in its current state (e.g. redrive a discarded one). */
  REFUSED: 'DLQ_REFUSED',
  /** Bad input from the caller (e.g. a discard without a reason). */
  INVALID_ARGUMENT: 'DLQ_INVALID_ARGUMENT',
  /** The schema has no `dead_letters` table: migration 0004 has not run there. */
  NOT_MIGRATED: 'DLQ_NOT_MIGRATED',
  /** The redriven message could not be published (nothing was marked). */
  PUBLISH_FAILED: 'DLQ_PUBLISH_FAILED',
} as const;
export type DlqErrorCode = (typeof DlqErrorCode)[keyof typeof DlqErrorCode];

/** A DLQ operation failed; `message` is one line meant for an operator. */
export class DlqError extends Error {
  override name = 'DlqError';
  constructor(
    readonly code: DlqErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
