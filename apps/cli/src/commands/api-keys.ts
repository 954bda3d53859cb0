import { TenantId } from '@keel/contracts';
import { migrate } from '@keel/event-store';
import { generateApiKey, storeApiKey } from '@keel/projections/store';
import { parseArgs, UsageError } from '../cli-kit/args';
import { withPool } from '../cli-kit/connections';
import { runSubcommands, type CliIo } from '../cli-kit/io';

/**
 * `keel api-keys create --tenant T [--admin] [--name N]`: issue an API key.
 * The key is printed once and stored only as its sha-256 (docs/api.md). Runs
 * the schema's migrations first (idempotent), so a key can be made before the
 * API has ever started.
 */
export const API_KEYS_USAGE = `usage: keel api-keys <command>
  create --tenant T [--admin] [--name N] [--json]
                                   issue a key for tenant T (printed once, stored hashed)`;

export function apiKeys(args: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  return runSubcommands('keel api-keys', API_KEYS_USAGE, args, io, {
    create: (rest) => create(rest, env, io),
  });
}

async function create(args: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const a = parseArgs(args, ['--tenant', '--name'], ['--admin', '--json']);
  if (a.positional.length > 0) throw new UsageError(`unexpected argument '${a.positional[0]}'`);
  const tenant = a.options.get('--tenant');
  if (tenant === undefined) throw new UsageError('create needs --tenant');
  if (!TenantId.safeParse(tenant).success)
    throw new UsageError(`invalid tenant '${tenant}': lowercase letters, digits, _ or -`);
  const role = a.flags.has('--admin') ? 'admin' : 'tenant';
  const name = a.options.get('--name') ?? '';
  const { key, keyId } = generateApiKey();
  await withPool(env, 'keel-api-keys', async (pool, schema) => {
    await migrate(pool, schema);
    await storeApiKey(pool, { key, tenant, role, name });
  });
  if (a.flags.has('--json')) io.out(JSON.stringify({ keyId, tenant, role, key }));
  else {
    io.out(key);
    io.err(`key ${keyId} for tenant ${tenant} (${role}); shown once, stored as its sha-256`);
  }
  return 0;
}
