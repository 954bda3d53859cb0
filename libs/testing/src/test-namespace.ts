import { randomBytes } from 'node:crypto';

/**
 * Names that isolate one test run on shared NATS and PostgreSQL servers:
 * `prefix` is a valid Keel deployment prefix (all subjects, streams and
 * consumers hang off it) and `schema` a PostgreSQL schema name.
 */
export interface TestNamespace {
  /** `t` + 8 characters of [a-z0-9]. */
  prefix: string;
  /** `kt_` + the same 8 characters. */
  schema: string;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export function testNamespace(): TestNamespace {
  // 36^8 ≈ 2.8e12 names; the tiny modulo bias of byte % 36 does not matter here.
  const id = Array.from(randomBytes(8), (b) => ALPHABET[b % ALPHABET.length]).join('');
  return { prefix: `t${id}`, schema: `kt_${id}` };
}
