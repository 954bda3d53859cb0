import { createHash, randomFillSync } from 'node:crypto';

/**
 * Ids. Event ids are UUIDv7 (time-ordered, so index inserts stay local);
 * ids that must come out the same on every retry (a run id from an upstream
 * request id, a tool call id from a run step) are UUIDv5 of a stable name.
 */

const hex = (b: Buffer) => b.toString('hex');
const format = (h: string) =>
  `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;

// Random bytes are drawn from a pool refilled 4 KiB at a time: one call into
// the CSPRNG per 256 ids instead of one per id (what `crypto.randomUUID` does too).
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let poolOffset = POOL_BYTES;

export function uuidv7(now: number = Date.now()): string {
  if (poolOffset + 16 > POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const b = pool.subarray(poolOffset, poolOffset + 16); // used once: safe to write into
  poolOffset += 16;
  b.writeUIntBE(now, 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return format(hex(b));
}

/** Namespace for Keel's name-based ids (a fixed random UUID). */
const KEEL_NAMESPACE = Buffer.from('6f1c2a5e9b3d4e7fa0c1d2e3f4a5b6c7', 'hex');

export function uuidv5(name: string): string {
  const h = createHash('sha1').update(KEEL_NAMESPACE).update(name, 'utf8').digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  return format(hex(h.subarray(0, 16)));
}

/** The run id for an upstream request: the same request id always names the same run. */
export const runIdFor = (tenant: string, requestId: string) => uuidv5(`run:${tenant}:${requestId}`);

/** The tool call id for call `index` of step `step`: stable across retries and crashes. */
export const toolCallIdFor = (runId: string, step: number, index: number) =>
  uuidv5(`toolcall:${runId}:${step}:${index}`);

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The delivery id of a call's `index`-th delivery: the same on every attempt of the call. */
export const deliveryIdFor = (idempotencyKey: string, index: number) =>
  uuidv5(`delivery:${idempotencyKey}:${index}`);
