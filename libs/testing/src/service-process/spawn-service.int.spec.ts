import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnService, stopAll, type ServiceHandle } from './spawn-service';

/** Small plain-JS programs standing in for built services. */
const scripts = {
  printsEnv: `
    console.log('ready ' + JSON.stringify({ mine: process.env.KEEL_GIVEN, leaked: process.env.KEEL_LEAKED ?? null }));
    console.error('to stderr');
    setInterval(() => {}, 1000);
    process.on('SIGTERM', () => { console.log('draining'); process.exit(0); });
  `,
  ignoresSigterm: `
    process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
    console.log('armed');
    setInterval(() => {}, 1000);
  `,
  exitsQuietly: `console.log('bye'); process.exit(3);`,
};

describe('spawnService', () => {
  let dir: string;
  const handles: ServiceHandle[] = [];
  const entry = (name: keyof typeof scripts) => {
    const path = join(dir, `${name}.js`);
    writeFileSync(path, scripts[name]);
    return path;
  };
  const spawnTracked = (...args: Parameters<typeof spawnService>) => {
    const handle = spawnService(...args);
    handles.push(handle);
    return handle;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'keel-spawn-'));
  });
  afterEach(async () => {
    await stopAll(handles.splice(0), { graceMs: 2000 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the entry with the given env (and not the test process KEEL_* vars), captures stdout and stderr', async () => {
    process.env['KEEL_LEAKED'] = 'from-test-process';
    let svc: ServiceHandle;
    try {
      svc = spawnTracked({
        name: 'envy',
        entry: entry('printsEnv'),
        env: { KEEL_GIVEN: 'yes' },
        logDir: dir,
      });
    } finally {
      delete process.env['KEEL_LEAKED'];
    }

    const match = await svc.waitForLog(/ready (\{.*\})/);
    expect(JSON.parse(match[1]!)).toEqual({ mine: 'yes', leaked: null });
    await svc.waitForLog(/to stderr/);
    expect(svc.pid).toBeGreaterThan(0);

    const [exit] = await stopAll([svc]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(svc.logs()).toMatch(/draining/);
    expect(readFileSync(svc.logFile!, 'utf8')).toMatch(/ready[\s\S]*draining/);
  });

  it('stopAll escalates to SIGKILL when SIGTERM is ignored', async () => {
    const svc = spawnTracked({ name: 'stubborn', entry: entry('ignoresSigterm') });
    await svc.waitForLog(/armed/);

    const [exit] = await stopAll([svc], { graceMs: 200 });

    expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(svc.logs()).toMatch(/ignoring SIGTERM/);
  });

  it('waitForLog rejects with SERVICE_EXITED (and the output) when the process exits first', async () => {
    const svc = spawnTracked({ name: 'quitter', entry: entry('exitsQuietly') });

    const error: unknown = await svc.waitForLog(/never printed/).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ServiceProcessError', code: 'SERVICE_EXITED' });
    expect((error as Error).message).toContain('bye');
    expect(await svc.exited).toEqual({ code: 3, signal: null });
    expect(svc.kill()).toBe(false);
  });

  it('refuses a missing entry with a hint to build', () => {
    expect(() => spawnService({ name: 'ghost', entry: join(dir, 'missing.js') })).toThrow(
      /npm run build/,
    );
    try {
      spawnService({ name: 'ghost', entry: join(dir, 'missing.js') });
    } catch (error) {
      expect(error).toMatchObject({ name: 'ServiceProcessError', code: 'ENTRY_NOT_FOUND' });
    }
    expect.assertions(2);
  });
});
