import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ToolError } from '../tool-definition';
import { classifyMcpError, MAX_ERROR_TEXT, toolErrorText } from './errors';

const live = new AbortController().signal;
const c = { server: 'shop', tool: 'mcp_shop_add', timeoutMs: 1000, signal: live };
const classify = (err: unknown, signal = live) => {
  const f = classifyMcpError(err, { ...c, signal });
  return {
    code: f.error.code,
    cls: f.error.errorClass,
    reconnect: f.reconnect,
    message: f.error.message,
  };
};

describe('classifyMcpError', () => {
  it('keeps a ToolError as it is', () => {
    const e = new ToolError('MCP_TOOL_ERROR', 'x', 'permanent');
    expect(classifyMcpError(e, c).error).toBe(e);
  });

  it('timeouts are transient, and an aborted call is "aborted" whatever the SDK says', () => {
    expect(classify(new McpError(ErrorCode.RequestTimeout, 'Request timed out'))).toMatchObject({
      code: 'MCP_TIMEOUT',
      cls: 'transient',
      reconnect: false,
      message: "mcp_shop_add: no answer from MCP server 'shop' within 1000 ms",
    });
    const aborted = AbortSignal.abort();
    expect(classify(new McpError(ErrorCode.RequestTimeout, 'AbortError'), aborted)).toMatchObject({
      code: 'MCP_ABORTED',
      cls: 'transient',
    });
  });

  it('a closed connection is transient and asks for a reconnect', () => {
    expect(classify(new McpError(ErrorCode.ConnectionClosed, 'Connection closed'))).toMatchObject({
      code: 'MCP_UNAVAILABLE',
      cls: 'transient',
      reconnect: true,
    });
  });

  it.each([
    ErrorCode.InvalidParams,
    ErrorCode.MethodNotFound,
    ErrorCode.InvalidRequest,
    ErrorCode.InternalError,
  ])('a protocol error (%s) is permanent', (code) => {
    expect(classify(new McpError(code, 'no'))).toMatchObject({
      code: 'MCP_PROTOCOL_ERROR',
      cls: 'permanent',
      reconnect: false,
    });
  });

  it('HTTP statuses: 401/403 auth, 429 rate limited, others transient with a reconnect', () => {
    expect(classify(new StreamableHTTPError(401, 'x'))).toMatchObject({
      code: 'MCP_UNAUTHORIZED',
      cls: 'auth',
    });
    expect(classify(new StreamableHTTPError(403, 'x'))).toMatchObject({ cls: 'auth' });
    expect(classify(new StreamableHTTPError(429, 'x'))).toMatchObject({ cls: 'rate_limited' });
    expect(classify(new StreamableHTTPError(404, 'Session not found'))).toMatchObject({
      code: 'MCP_UNAVAILABLE',
      cls: 'transient',
      reconnect: true,
    });
    expect(classify(new StreamableHTTPError(503, 'x'))).toMatchObject({
      cls: 'transient',
      reconnect: true,
    });
  });

  it('a transport failure is transient, names the cause, and asks for a reconnect', () => {
    const err = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
    });
    expect(classify(err)).toEqual({
      code: 'MCP_UNAVAILABLE',
      cls: 'transient',
      reconnect: true,
      message: "MCP server 'shop': fetch failed (ECONNREFUSED)",
    });
  });

  it('a malformed result is permanent', () => {
    const zodError = z.object({ content: z.array(z.unknown()) }).safeParse({}).error;
    expect(classify(zodError)).toMatchObject({ code: 'MCP_BAD_RESULT', cls: 'permanent' });
  });

  it('cuts long messages', () => {
    const f = classifyMcpError(new McpError(ErrorCode.InvalidParams, 'x'.repeat(2000)), c);
    expect(f.error.message.length).toBe(MAX_ERROR_TEXT);
  });
});

describe('toolErrorText', () => {
  it('joins the text content, skipping other kinds', () => {
    expect(
      toolErrorText([
        { type: 'text', text: 'first' },
        { type: 'image', data: 'AAAA', mimeType: 'image/png' },
        { type: 'text', text: 'second' },
      ]),
    ).toBe('first\nsecond');
  });

  it('says so when there is no text, and cuts long text', () => {
    expect(toolErrorText([])).toBe('the tool reported an error without text');
    expect(toolErrorText(undefined)).toBe('the tool reported an error without text');
    expect(toolErrorText([{ type: 'text', text: 'y'.repeat(5000) }])).toHaveLength(MAX_ERROR_TEXT);
  });
});
