import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { checkConfig, natsUsers, passwordEnv, REPO_ROOT } from './nats-config';

/**
 * There is no Docker engine in CI, so docker-compose.yml and the Dockerfile
 * are kept honest by reading them: every Keel service gets the configuration
 * it needs and credentials that exist in the NATS config, and the NATS config
 * itself is checked by the real server.
 */

interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string };
  command?: string[];
  environment?: Record<string, string | number | boolean | null>;
  depends_on?: Record<string, { condition?: string }>;
  healthcheck?: { test?: string[] | string };
  ports?: unknown[];
  container_name?: string;
  volumes?: string[];
  [key: string]: unknown;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), {
  merge: true,
}) as ComposeFile;
const service = (name: string): ComposeService => {
  const s = compose.services[name];
  if (!s) throw new Error(`docker-compose.yml has no service '${name}'`);
  return s;
};
const env = (name: string): Record<string, string> =>
  Object.fromEntries(
    Object.entries(service(name).environment ?? {}).map(([k, v]) => [k, String(v)]),
  );

/** `${VAR:-default}` → { name, fallback }; anything else → undefined. */
const interpolation = (value: string | undefined) => {
  const m = /^\$\{([A-Z0-9_]+):-([^}]*)\}$/.exec(value ?? '');
  return m ? { name: m[1]!, fallback: m[2]! } : undefined;
};

const KEEL_SERVICES = ['planner', 'tool-executor', 'budget-guard', 'outbox'] as const;
const SCALABLE = [...KEEL_SERVICES, 'scripted-model'];
const BASE_ENV = [
  'KEEL_DATABASE_URL',
  'KEEL_DB_SCHEMA',
  'KEEL_NATS_URL',
  'KEEL_NATS_USER',
  'KEEL_NATS_PASSWORD',
  'KEEL_PREFIX',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'KEEL_TRACE_SAMPLE_RATIO',
  'KEEL_LOG_LEVEL',
];
const NEEDED_ENV: Record<(typeof KEEL_SERVICES)[number], string[]> = {
  planner: [...BASE_ENV, 'KEEL_MODEL_BASE_URL', 'KEEL_MODEL_API_KEY', 'KEEL_MODEL_NAME'],
  'tool-executor': BASE_ENV,
  'budget-guard': BASE_ENV,
  outbox: BASE_ENV,
};

describe('docker-compose.yml', () => {
  it('has the infrastructure, the four services, the scripted model and the provisioning step', () => {
    expect(Object.keys(compose.services)).toEqual(
      expect.arrayContaining([
        'nats',
        'postgres',
        'jaeger',
        'nats-provision',
        'scripted-model',
        ...KEEL_SERVICES,
      ]),
    );
  });

  it.each(KEEL_SERVICES)(
    '%s runs its bundle from the shared image, with the env it needs',
    (name) => {
      const s = service(name);
      expect(s.build?.dockerfile).toBe('infra/docker/Dockerfile');
      expect(s.image).toBe(service('planner').image);
      expect(s.command).toEqual(['node', `dist/apps/${name}/main.js`]);
      expect(Object.keys(env(name))).toEqual(expect.arrayContaining(NEEDED_ENV[name]));
      expect(env(name)['KEEL_NATS_URL']).toBe('nats://nats:4222');
      expect(env(name)['KEEL_PREFIX']).toBe('keel');
      expect(env(name)['OTEL_EXPORTER_OTLP_ENDPOINT']).toBe('http://jaeger:4318');
      expect(s.init).toBe(true);
    },
  );

  it.each(KEEL_SERVICES)(
    '%s starts after healthy NATS and PostgreSQL and completed provisioning',
    (name) => {
      expect(service(name).depends_on).toMatchObject({
        nats: { condition: 'service_healthy' },
        postgres: { condition: 'service_healthy' },
        'nats-provision': { condition: 'service_completed_successfully' },
      });
      expect(service('nats').healthcheck?.test).toBeDefined();
      expect(service('postgres').healthcheck?.test).toBeDefined();
    },
  );

  it('gives every NATS client its own user from the NATS config, with a matching password variable and inbox', () => {
    const users = new Map(natsUsers().map((u) => [u.user, u]));
    const authConf = readFileSync(join(REPO_ROOT, 'infra/nats/auth.conf'), 'utf8');
    const natsEnv = env('nats');
    const clients = [...KEEL_SERVICES, 'nats-provision'];

    const seen = new Set<string>();
    for (const name of clients) {
      const user = env(name)['KEEL_NATS_USER']!;
      expect({ service: name, userExists: users.has(user) }).toEqual({
        service: name,
        userExists: true,
      });
      expect(seen.has(user)).toBe(false); // one user per service
      seen.add(user);

      // Both sides read the same variable with the same development default;
      // the server's copy is wrapped in double quotes (see nats-config.ts).
      const password = interpolation(env(name)['KEEL_NATS_PASSWORD']);
      expect(password?.name).toBe(users.get(user)!.passwordVar);
      expect(natsEnv[password!.name]).toBe(`"${env(name)['KEEL_NATS_PASSWORD']}"`);

      // The client's inbox prefix is the one its user may subscribe to.
      expect(env(name)['KEEL_NATS_INBOX_PREFIX']).toBe(`_INBOX_${user}`);
      expect(authConf).toContain(`"_INBOX_${user}.>"`);
    }
    expect(env('nats-provision')['KEEL_NATS_USER']).toBe('admin');
  });

  it('passes every password the NATS config references to the nats container, and mounts the config', () => {
    const natsEnv = env('nats');
    for (const { passwordVar } of natsUsers()) {
      const quoted = /^"(.*)"$/.exec(natsEnv[passwordVar] ?? '')?.[1];
      expect({ passwordVar, name: interpolation(quoted)?.name }).toEqual({
        passwordVar,
        name: passwordVar,
      });
    }
    expect(service('nats').volumes).toContain('./infra/nats:/etc/nats:ro');
    expect(service('nats').command).toEqual(['-c', '/etc/nats/nats.conf']);
    expect(service('nats').image).toMatch(/^nats:2\.10/);
  });

  it('uses the scripted model by default, overridable by a real provider', () => {
    const baseUrl = interpolation(env('planner')['KEEL_MODEL_BASE_URL']);
    expect(baseUrl?.name).toBe('KEEL_MODEL_BASE_URL');
    const url = new URL(baseUrl!.fallback);
    expect(url.hostname).toBe('scripted-model');
    const model = service('scripted-model');
    expect(model.command).toEqual([
      'node',
      'dist/apps/cli/main.js',
      'model-server',
      '--port',
      url.port,
    ]);
    expect(model.image).toBe(service('planner').image);
    expect(model.healthcheck?.test).toBeDefined();
    expect(service('planner').depends_on?.['scripted-model']).toEqual({
      condition: 'service_healthy',
    });
  });

  it('points the services at PostgreSQL with its own user, database and password', () => {
    const pg = env('postgres');
    const url = new URL(env('planner')['KEEL_DATABASE_URL']!.replace(/\$\{[^}]*\}/, 'PASSWORD'));
    expect(url.hostname).toBe('postgres');
    expect(url.username).toBe(pg['POSTGRES_USER']);
    expect(url.pathname).toBe(`/${pg['POSTGRES_DB']}`);
    expect(env('planner')['KEEL_DATABASE_URL']).toContain(`:${pg['POSTGRES_PASSWORD']}@`);
    expect(service('postgres').image).toMatch(/^postgres:16/);
    expect(service('postgres').command).toEqual(expect.arrayContaining(['synchronous_commit=on']));
  });

  it('runs Jaeger with OTLP enabled', () => {
    expect(service('jaeger').image).toMatch(/^jaegertracing\/all-in-one:/);
    expect(env('jaeger')['COLLECTOR_OTLP_ENABLED']).toBe('true');
    expect(JSON.stringify(service('jaeger').ports)).toContain('4318:4318');
    expect(JSON.stringify(service('jaeger').ports)).toContain('16686:16686');
  });

  it.each(SCALABLE)('%s can be scaled: no container_name, no host ports', (name) => {
    expect(service(name).container_name).toBeUndefined();
    expect(service(name).ports).toBeUndefined();
  });

  it('declares every named volume it mounts', () => {
    const named = Object.values(compose.services)
      .flatMap((s) => s.volumes ?? [])
      .map((v) => v.split(':')[0]!)
      .filter((source) => !source.startsWith('.') && !source.startsWith('/'));
    for (const v of named) expect(Object.keys(compose.volumes ?? {})).toContain(v);
  });
});

describe('infra/docker/Dockerfile', () => {
  const dockerfile = readFileSync(join(REPO_ROOT, 'infra/docker/Dockerfile'), 'utf8');
  const lastStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  it('builds with npm ci and npm run build, then drops dev dependencies', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    expect(dockerfile).toMatch(/RUN npm ci\b/);
    expect(dockerfile).toMatch(/npm run build/);
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      scripts?: Record<string, string>;
    };
    expect(pkg.scripts?.['build']).toBeDefined();
  });

  it('ships dist, the migrations, production node_modules and package.json, and runs as a non-root user', () => {
    for (const path of [
      '/app/dist',
      '/app/infra/migrations',
      '/app/node_modules',
      '/app/package.json',
    ]) {
      expect(lastStage).toContain(`COPY --from=build ${path} `);
    }
    const user = /^USER\s+(\S+)/m.exec(lastStage)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(readdirSync(join(REPO_ROOT, 'infra/migrations')).some((f) => f.endsWith('.sql'))).toBe(
      true,
    );
  });

  it('has a build-context ignore file beside it that keeps node_modules and dist out', () => {
    const ignore = readFileSync(join(REPO_ROOT, 'infra/docker/Dockerfile.dockerignore'), 'utf8');
    expect(ignore).toMatch(/node_modules/);
    expect(ignore).toMatch(/^dist$/m);
    expect(existsSync(join(REPO_ROOT, 'package-lock.json'))).toBe(true);
  });
});

describe('infra/nats/nats.conf', () => {
  it('is accepted by nats-server -t when every password variable is set', () => {
    const { status, output } = checkConfig(passwordEnv());
    // The output is part of the compared object so a failure shows the server's complaint.
    expect({ status, output }).toMatchObject({ status: 0 });
    expect(output).toContain('is valid');
  });

  it('is refused when a password variable is missing (no default passwords)', () => {
    const envWithout = passwordEnv();
    delete envWithout['NATS_PLANNER_PASSWORD'];
    const { status, output } = checkConfig(envWithout);
    expect(status).not.toBe(0);
    expect(output).toContain('NATS_PLANNER_PASSWORD');
  });

  it('has one user per service plus admin and upstream, and no anonymous user', () => {
    expect(natsUsers().map((u) => u.user)).toEqual([
      'admin',
      'upstream',
      'api',
      'planner',
      'tool-executor',
      'budget-guard',
      'outbox',
    ]);
    const conf =
      readFileSync(join(REPO_ROOT, 'infra/nats/nats.conf'), 'utf8') +
      readFileSync(join(REPO_ROOT, 'infra/nats/auth.conf'), 'utf8');
    expect(conf).not.toMatch(/^\s*no_auth_user/m);
    expect(conf).toMatch(/^max_payload:\s*1MB$/m);
  });
});
