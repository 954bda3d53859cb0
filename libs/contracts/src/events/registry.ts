import type { z } from 'zod';
import type { EventDefinition } from './define';
import { BudgetEvents, type BudgetEvent } from './budget-events';
import { CompensationEvents, type CompensationEvent } from './compensation-events';
import { DeliveryEvents, type DeliveryEvent } from './delivery-events';
import { RunEvents, type RunEvent } from './run-events';
import { ToolCallEvents, type ToolCallEvent } from './toolcall-events';
import { NO_ROUTE } from '../names';

/** Any event Keel records, in its current shape. */
export type KeelEvent = RunEvent | ToolCallEvent | BudgetEvent | DeliveryEvent | CompensationEvent;
export type KeelEventType = KeelEvent['type'];

const definitions = new Map<string, EventDefinition>(
  [...RunEvents, ...ToolCallEvents, ...BudgetEvents, ...DeliveryEvents, ...CompensationEvents].map(
    (d) => [d.type, d as EventDefinition],
  ),
);

/**
 * `poison`: the message carrying the event is bad in itself; a consumer
 * dead-letters it at once instead of retrying (libs/messaging).
 */
export class UnknownEventError extends Error {
  override name = 'UnknownEventError';
  readonly code = 'UNKNOWN_EVENT';
  readonly poison = true;
}

export class EventSchemaError extends Error {
  override name = 'EventSchemaError';
  readonly code = 'EVENT_SCHEMA_INVALID';
  readonly poison = true;
  constructor(
    message: string,
    readonly issues: z.core.$ZodIssue[] = [],
  ) {
    super(message);
  }
}

export function eventDefinition(type: string): EventDefinition {
  const def = definitions.get(type);
  if (!def) throw new UnknownEventError(`unknown event type '${type}'`);
  return def;
}

/** The schema version new events of this type are written with. */
export const currentSchemaVersion = (type: KeelEventType): number =>
  eventDefinition(type).schemaVersion;

/**
 * Turn stored data of any known version into the current shape, validated.
 * Throws `UnknownEventError` for an unknown type and `EventSchemaError` for a
 * version newer than this code knows or data that fails the schema.
 */
export function upcastEvent(type: string, schemaVersion: number, data: unknown): KeelEvent {
  const def = eventDefinition(type);
  if (!Number.isInteger(schemaVersion) || schemaVersion < 1 || schemaVersion > def.schemaVersion) {
    throw new EventSchemaError(
      `${type}: schema_version ${schemaVersion} is not supported (this build reads 1..${def.schemaVersion})`,
    );
  }
  let current = data;
  for (let v = schemaVersion; v < def.schemaVersion; v++) current = def.upcasters[v]!(current);
  const parsed = def.data.safeParse(current);
  if (!parsed.success) {
    throw new EventSchemaError(
      `${type} v${def.schemaVersion}: ${parsed.error.message}`,
      parsed.error.issues,
    );
  }
  return { type, data: parsed.data } as KeelEvent;
}

/** Validate an event about to be written (current version). */
export function validateNewEvent(event: { type: string; data: unknown }): KeelEvent {
  return upcastEvent(event.type, eventDefinition(event.type).schemaVersion, event.data);
}

/** The route token of an event's subject: the pool for tool work, `_` otherwise. */
export function routeOf(event: { type: string; data: unknown }): string {
  if (event.type === 'ToolCallRequested') return (event.data as { pool: string }).pool;
  return NO_ROUTE;
}
