import type { RecordedEvent } from './types';

/** An appended event's `data` and `metadata` exactly as the append serialised them. */
export interface WrittenJson {
  readonly dataJson: string;
  readonly metadataJson: string;
}

const written = new WeakMap<object, WrittenJson>();

/**
 * The JSON this process wrote for a record its append returned, so a writer
 * that publishes the event right after the commit splices it into the payload
 * instead of serialising the event a second time. Undefined for records read
 * from the log. Records are immutable: the JSON stays true to them.
 */
export const writtenJsonOf = (record: object): WrittenJson | undefined => written.get(record);

export function rememberWrittenJson(record: RecordedEvent, json: WrittenJson): RecordedEvent {
  written.set(record, json);
  return record;
}
