import { McpConfigError, parseMcpServers } from './spec';

describe('parseMcpServers', () => {
  it('parses stdio and http servers and fills in defaults', () => {
    const specs = parseMcpServers(
      JSON.stringify([
        {
          name: 'files',
          transport: 'stdio',
          command: 'node',
          args: ['server.js'],
          env: { A: '1' },
        },
        {
          name: 'crm',
          transport: 'http',
          url: 'https://crm.example/mcp',
          timeoutMs: 5000,
          sideEffect: 'read',
        },
      ]),
    );
    expect(specs).toEqual([
      {
        name: 'files',
        transport: 'stdio',
        command: 'node',
        args: ['server.js'],
        env: { A: '1' },
        timeoutMs: 30_000,
        connectTimeoutMs: 10_000,
      },
      {
        name: 'crm',
        transport: 'http',
        url: 'https://crm.example/mcp',
        timeoutMs: 5000,
        connectTimeoutMs: 10_000,
        sideEffect: 'read',
      },
    ]);
  });

  it('treats an empty value as no servers', () => {
    expect(parseMcpServers('')).toEqual([]);
    expect(parseMcpServers('  \n')).toEqual([]);
    expect(parseMcpServers('[]')).toEqual([]);
  });

  it.each([
    [
      'a name with capitals',
      [{ name: 'Files', transport: 'stdio', command: 'x' }],
      '[0].name: server name',
    ],
    [
      'a name that is too long',
      [{ name: 'a'.repeat(22), transport: 'stdio', command: 'x' }],
      '[0].name',
    ],
    ['a stdio server without command', [{ name: 'a', transport: 'stdio' }], '[0].command'],
    ['an unknown transport', [{ name: 'a', transport: 'ws', url: 'ws://x' }], '[0].transport'],
    ['a non-http url', [{ name: 'a', transport: 'http', url: 'file:///etc/passwd' }], '[0].url'],
    ['an unknown key', [{ name: 'a', transport: 'http', url: 'http://x', tiemout: 1 }], 'tiemout'],
    [
      'a bad side effect',
      [{ name: 'a', transport: 'http', url: 'http://x', sideEffect: 'rw' }],
      '[0].sideEffect',
    ],
    [
      'a tiny timeout',
      [{ name: 'a', transport: 'http', url: 'http://x', timeoutMs: 1 }],
      '[0].timeoutMs',
    ],
    ['an object instead of a list', { name: 'a' }, '(root)'],
  ])('refuses %s, saying where', (_what, value, where) => {
    expect(() => parseMcpServers(JSON.stringify(value))).toThrow(McpConfigError);
    expect(() => parseMcpServers(JSON.stringify(value))).toThrow(where);
  });

  it('refuses two servers with one name', () => {
    const json = JSON.stringify([
      { name: 'a', transport: 'stdio', command: 'x' },
      { name: 'a', transport: 'http', url: 'http://x' },
    ]);
    expect(() => parseMcpServers(json)).toThrow(
      "KEEL_MCP_SERVERS: [1].name: server 'a' is listed twice",
    );
  });

  it('refuses invalid JSON without quoting it (it may hold secrets)', () => {
    const json =
      '[{"name":"a","transport":"http","url":"http://x","headers":{"authorization":"Bearer s3cr3t"}} oops]';
    let message = '';
    try {
      parseMcpServers(json);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^KEEL_MCP_SERVERS: not valid JSON/);
    expect(message).not.toContain('s3cr3t');
  });

  it('names the source it was given', () => {
    expect(() => parseMcpServers('{', 'config.mcp')).toThrow(/^config\.mcp: not valid JSON/);
  });
});
