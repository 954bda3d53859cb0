import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '@keel/event-store';

/**
 * API keys (table `api_keys`, migration 0006), shared by the API (verify) and
 * `keel api-keys create` (issue).
 *
 * A key is `keel_<keyId>_<secret>`: `keyId` (12 hex) finds the row, `secret`
 * is 32 random bytes (base64url). Only sha-256 of the whole key is stored. A
 * slow password hash (bcrypt, scrypt) protects guessable secrets; a 256-bit
 * random secret cannot be guessed, so a fast hash loses nothing and keeps
 * authentication to one indexed lookup per request.
 */

export type ApiKeyRole = 'tenant' | 'admin';

export interface ApiPrincipal {
  readonly keyId: string;
  readonly tenant: string;
  readonly role: ApiKeyRole;
}

const KEY_RE = /^keel_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export const isWellFormedKey = (key: string): boolean => KEY_RE.test(key);

const hashOf = (key: string) => createHash('sha256').update(key, 'utf8').digest();

export function generateApiKey(): { keyId: string; key: string } {
  const keyId = randomBytes(6).toString('hex');
  return { keyId, key: `keel_${keyId}_${randomBytes(32).toString('base64url')}` };
}

/** Store a key (hashed). Re-storing the same key is a no-op; a different key with its id fails. */
export async function storeApiKey(
  q: Queryable,
  args: { key: string; tenant: string; role: ApiKeyRole; name?: string },
): Promise<{ keyId: string }> {
  const m = KEY_RE.exec(args.key);
  if (!m) throw new Error('malformed API key: expected keel_<12 hex>_<43 base64url>');
  const keyId = m[1]!;
  const { rows } = await q.query<{ key_hash: Buffer }>(
    `INSERT INTO api_keys (key_id, key_hash, tenant, role, name) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (key_id) DO UPDATE SET key_id = api_keys.key_id
     RETURNING key_hash`,
    [keyId, hashOf(args.key), args.tenant, args.role, args.name ?? ''],
  );
  if (!rows[0] || !timingSafeEqual(rows[0].key_hash, hashOf(args.key)))
    throw new Error(`API key id ${keyId} is already taken by another key`);
  return { keyId };
}

/** The principal of a presented key, or undefined (unknown, revoked, malformed, wrong secret). */
export async function verifyApiKey(q: Queryable, key: string): Promise<ApiPrincipal | undefined> {
  const m = KEY_RE.exec(key);
  if (!m) return undefined;
  const { rows } = await q.query<{ key_hash: Buffer; tenant: string; role: ApiKeyRole }>(
    'SELECT key_hash, tenant, role FROM api_keys WHERE key_id = $1 AND revoked_at IS NULL',
    [m[1]],
  );
  const row = rows[0];
  if (!row || !timingSafeEqual(row.key_hash, hashOf(key))) return undefined;
  return { keyId: m[1]!, tenant: row.tenant, role: row.role };
}
