// Bundles each app (apps/<name>/src/main.ts) into dist/apps/<name>/main.js with
// esbuild. Workspace libraries are inlined (resolved from tsconfig paths);
// npm packages stay external and load from node_modules at run time, so
// OpenTelemetry's require hooks can instrument them. Type-checking is a
// separate step (`npm run typecheck`): esbuild only strips types.
//
// No `keepNames`: nothing is minified, so names survive, except where bundling renames a clash
// (`Settlement` → `Settlement2`); with it, esbuild wraps every closure in `__name(fn, "…")`, an
// `Object.defineProperty` each time a closure is created — about 1 % of the planner's CPU under
// load (docs/performance.md). Code must not depend on a class's or function's `.name`.
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

// The benchmark driver is bundled the same way (test/bench/main.ts → dist/bench/main.js), and
// so are the architecture's floor (test/bench/floor/main.ts → dist/bench/floor.js), the
// append-shape micro-benchmark (test/bench/append-shapes.ts → dist/bench/append.js) and the
// side-by-side A/B (test/bench/ab.ts → dist/bench/ab.js).
const targets = [
  ...apps.map((app) => ({
    name: app,
    entry: join('apps', app, 'src', 'main.ts'),
    out: join('dist', 'apps', app, 'main.js'),
  })),
  { name: 'bench', entry: join('test', 'bench', 'main.ts'), out: join('dist', 'bench', 'main.js') },
  {
    name: 'bench-floor',
    entry: join('test', 'bench', 'floor', 'main.ts'),
    out: join('dist', 'bench', 'floor.js'),
  },
  {
    name: 'bench-append',
    entry: join('test', 'bench', 'append-shapes.ts'),
    out: join('dist', 'bench', 'append.js'),
  },
  { name: 'bench-ab', entry: join('test', 'bench', 'ab.ts'), out: join('dist', 'bench', 'ab.js') },
].filter((t) => existsSync(join(root, t.entry)));

const started = Date.now();
await Promise.all(
  targets.map((t) =>
    build({
      absWorkingDir: root,
      entryPoints: [t.entry],
      outfile: t.out,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      packages: 'external',
      sourcemap: true,
      tsconfig: 'tsconfig.base.json',
      logLevel: 'warning',
      keepNames: false,
    }),
  ),
);
console.log(`built ${targets.map((t) => t.name).join(', ')} in ${Date.now() - started} ms`);
