import { hash } from 'node:crypto';
import { canonicalJson } from '@keel/tools';

/**
 * sha256 of the value's canonical JSON (object keys sorted): equal inputs, equal hashes.
 * One-shot `hash` (Node ≥ 20.12): no Hash object per call, ~0.4 against ~1 µs.
 */
export function inputHash(value: unknown): string {
  return hash('sha256', canonicalJson(value), 'hex');
}
