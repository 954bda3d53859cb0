import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MigrationError } from './errors';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** `0001_events.sql`: four-digit version, lowercase name. Other files are ignored. */
const FILE_RE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/**
 * Find `infra/migrations` by walking up from `from` (default: this file's
 * directory). Works from source under jest and from a bundle in
 * `dist/apps/<app>/main.js`; deployments that ship elsewhere pass the path.
 */
export function findMigrationsDir(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'infra', 'migrations');
    if (existsSync(candidate) && statSync(candidate).isDirectory()) return candidate;
    if (dirname(dir) === dir) {
      throw new MigrationError(`no infra/migrations directory above '${from}'`);
    }
  }
}

/** The migrations in `dir`, ordered by version. Duplicate versions are an error. */
export function loadMigrations(dir: string): Migration[] {
  const migrations: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    const m = FILE_RE.exec(file);
    if (!m) continue;
    const version = Number(m[1]);
    if (migrations.some((x) => x.version === version)) {
      throw new MigrationError(`duplicate migration version ${version} in '${dir}'`);
    }
    migrations.push({ version, name: m[2]!, sql: readFileSync(join(dir, file), 'utf8') });
  }
  if (migrations.length === 0) throw new MigrationError(`no migrations found in '${dir}'`);
  return migrations;
}
