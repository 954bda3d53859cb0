import { headers as natsHeaders, type MsgHdrs } from 'nats';
import { KeelHeaders } from '@keel/contracts';

/** Header carrying the run a message belongs to; copied into dead letters. */
export const RUN_ID_HEADER = KeelHeaders.runId;
/** JetStream's de-duplication header. */
export const MSG_ID_HEADER = KeelHeaders.msgId;

/** NATS headers as a plain record; a repeated header keeps its last value. */
export function headersToRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const key of h.keys()) out[key] = h.last(key);
  return out;
}

/** A plain record as NATS headers, on top of `base` if given (the record wins). */
export function recordToHeaders(
  record: Record<string, string> | undefined,
  base: MsgHdrs = natsHeaders(),
): MsgHdrs {
  if (record) for (const [k, v] of Object.entries(record)) base.set(k, v);
  return base;
}
