/**
 * Errors the event store throws. Each has a stable `code` callers can switch
 * on; the driver error (if any) is kept as `cause`.
 */

/** The stream was not at `expectedVersion`: someone else appended first, or the caller skipped ahead. */
export class ConcurrencyError extends Error {
  override name = 'ConcurrencyError';
  readonly code = 'CONCURRENCY_CONFLICT';
  constructor(
    readonly streamId: string,
    readonly expectedVersion: number,
    options?: { cause?: unknown },
  ) {
    super(
      `stream '${streamId}' is not at expected version ${expectedVersion} ` +
        `(another writer appended first, or the expected version is ahead of the stream)`,
      options,
    );
  }
}

/** An event with this `metadata.eventId` is already recorded (in any stream). */
export class DuplicateEventError extends Error {
  override name = 'DuplicateEventError';
  readonly code = 'DUPLICATE_EVENT';
  constructor(
    readonly streamId: string,
    /** The duplicate id, when PostgreSQL reported it. */
    readonly eventId: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      `event id ${eventId ?? '(unknown)'} appended to '${streamId}' is already recorded`,
      options,
    );
  }
}

/** An event failed its contract before anything was written. */
export class InvalidEventError extends Error {
  override name = 'InvalidEventError';
  readonly code = 'INVALID_EVENT';
  constructor(
    readonly streamId: string,
    readonly index: number,
    readonly type: string,
    options: { cause: unknown },
  ) {
    super(
      `event #${index} (${type}) for '${streamId}' is invalid: ${messageOf(options.cause)}`,
      options,
    );
  }
}

/** A stored event cannot be read by this build (unknown type or version, or bad data). */
export class EventReadError extends Error {
  override name = 'EventReadError';
  readonly code = 'EVENT_UNREADABLE';
  constructor(
    readonly globalPosition: bigint,
    readonly streamId: string,
    readonly type: string,
    readonly schemaVersion: number,
    options: { cause: unknown },
  ) {
    super(
      `cannot read event at position ${globalPosition} (${streamId}, ${type} v${schemaVersion}): ` +
        messageOf(options.cause),
      options,
    );
  }
}

/** Bad migration files, or a migration that failed to apply. */
export class MigrationError extends Error {
  override name = 'MigrationError';
  readonly code = 'MIGRATION_FAILED';
}

/** A caller passed an argument the store refuses (bad schema name, negative version...). */
export class EventStoreArgumentError extends Error {
  override name = 'EventStoreArgumentError';
  readonly code = 'INVALID_ARGUMENT';
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));
