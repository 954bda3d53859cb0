// One jest config for the workspace. Test tiers are chosen by file suffix:
//   *.unit.spec.ts  pure logic, no I/O
//   *.int.spec.ts   one library or service against real PostgreSQL and NATS
//   test/**/*.e2e.spec.ts  the services as separate processes
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: false },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  },
];
const libs = [
  'contracts',
  'run-domain',
  'budget-domain',
  'resilience',
  'tools',
  'event-store',
  'messaging',
  'telemetry',
  'testing',
  'runtime',
  'dlq',
  'projections',
  'projections/store',
];
const moduleNameMapper = Object.fromEntries(
  libs.map((l) => [`^@keel/${l}$`, `<rootDir>/libs/${l}/src/index.ts`]),
);
const common = {
  rootDir: __dirname,
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper,
  testEnvironment: 'node',
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
};
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/**/*.unit.spec.ts'] },
    {
      ...common,
      displayName: 'int',
      testMatch: ['<rootDir>/{apps,libs}/**/*.int.spec.ts'],
      slowTestThreshold: 30,
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e.spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      slowTestThreshold: 60,
    },
    {
      // Fault-injection suite (docs/reliability.md). `npm test` runs its short form;
      // `npm run test:chaos` runs it in full (KEEL_CHAOS=full).
      ...common,
      displayName: 'chaos',
      testMatch: ['<rootDir>/test/chaos/**/*.chaos.spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/chaos/support/global-teardown.ts',
      slowTestThreshold: 120,
    },
  ],
};
