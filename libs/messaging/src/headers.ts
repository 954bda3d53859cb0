import { headers as natsHeaders, MsgHdrsImpl, type MsgHdrs } from 'nats';
import { KeelHeaders } from '@keel/contracts';

/** Header carrying the run a message belongs to; copied into dead letters. */
export const RUN_ID_HEADER = KeelHeaders.runId;
/** JetStream's de-duplication header. */
export const MSG_ID_HEADER = KeelHeaders.msgId;

/**
 * NATS headers as a plain record; a repeated header keeps its last value.
 * One pass over the headers (nats.js's `keys()` + `last()` search the whole
 * set for every key).
 */
export function headersToRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const [key, values] of h) if (values.length > 0) out[key] = values[values.length - 1]!;
  return out;
}

/**
 * Headers for a message this process builds from values it controls (ids,
 * event types, trace context): one map insertion per header, where
 * `headers().set()` canonicalises the key and searches the whole set for it
 * twice per call. A value holding CR or LF (which would end the header block)
 * takes the validating path, and is refused there.
 */
export function headersOf(record: Readonly<Record<string, string>>): MsgHdrs {
  const values: Record<string, string[]> = {};
  for (const k in record) {
    const v = record[k]!;
    if (v.includes('\r') || v.includes('\n')) return recordToHeaders(record);
    values[k] = [v];
  }
  return MsgHdrsImpl.fromRecord(values);
}

/** A plain record as NATS headers, on top of `base` if given (the record wins). */
export function recordToHeaders(
  record: Record<string, string> | undefined,
  base: MsgHdrs = natsHeaders(),
): MsgHdrs {
  if (record) for (const [k, v] of Object.entries(record)) base.set(k, v);
  return base;
}
