import { createHash } from 'node:crypto';
import { canonicalJson } from '@keel/tools';

/** sha256 of the value's canonical JSON (object keys sorted): equal inputs, equal hashes. */
export function inputHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}
