import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Cross-service suites run the services as built by `npm run build`. Build once
 * before the e2e project unless KEEL_SKIP_BUILD=1 (CI builds in its own step).
 */
export default function globalSetup(): void {
  if (process.env.KEEL_SKIP_BUILD === '1') return;
  const root = join(__dirname, '..', '..');
  execFileSync(process.execPath, [join(root, 'infra', 'build', 'bundle.mjs')], {
    cwd: root,
    stdio: 'inherit',
  });
}
