// Bundles each app (apps/<name>/src/main.ts) into dist/apps/<name>/main.js with
// esbuild. Workspace libraries are inlined (resolved from tsconfig paths);
// npm packages stay external and load from node_modules at run time, so
// OpenTelemetry's require hooks can instrument them. Type-checking is a
// separate step (`npm run typecheck`): esbuild only strips types.
//
// esbuild does not emit decorator metadata, so Nest code injects by explicit
// token (`@Inject(X)` / `useFactory` + `inject`), never by reflected type.
import { build } from 'esbuild';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const apps = readdirSync(join(root, 'apps')).filter((a) =>
  existsSync(join(root, 'apps', a, 'src', 'main.ts')),
);

const started = Date.now();
await Promise.all(
  apps.map((app) =>
    build({
      absWorkingDir: root,
      entryPoints: [join('apps', app, 'src', 'main.ts')],
      outfile: join('dist', 'apps', app, 'main.js'),
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      packages: 'external',
      sourcemap: true,
      tsconfig: 'tsconfig.base.json',
      logLevel: 'warning',
      keepNames: true,
    }),
  ),
);
console.log(`built ${apps.join(', ')} in ${Date.now() - started} ms`);
