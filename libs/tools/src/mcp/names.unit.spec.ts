import { assertToken, ToolName } from '@keel/contracts';
import { MAX_TOOL_NAME_LENGTH, mcpPoolName, mcpToolName } from './names';

describe('mcpToolName', () => {
  it('prefixes the server and keeps valid names as they are', () => {
    expect(mcpToolName('shop', 'lookup_order')).toBe('mcp_shop_lookup_order');
    expect(mcpToolName('s3', 'get2')).toBe('mcp_s3_get2');
  });

  it('lower-cases and replaces every character outside [a-z0-9_] by _', () => {
    expect(mcpToolName('shop', 'Echo-Text.v2')).toBe('mcp_shop_echo_text_v2');
    expect(mcpToolName('shop', 'get order/by id')).toBe('mcp_shop_get_order_by_id');
    expect(mcpToolName('shop', 'café')).toBe('mcp_shop_caf_');
    expect(mcpToolName('shop', '🙂')).toBe('mcp_shop___');
  });

  it('cuts to the ToolName limit', () => {
    const name = mcpToolName('a_rather_long_server_', 'x'.repeat(100));
    expect(name).toHaveLength(MAX_TOOL_NAME_LENGTH);
    expect(name.startsWith('mcp_a_rather_long_server__xxx')).toBe(true);
  });

  it('always yields a valid ToolName', () => {
    for (const tool of ['A', '-', '..', 'x'.repeat(200), 'Ünïcödé', 'a b\tc\n']) {
      expect(ToolName.safeParse(mcpToolName('srv', tool)).success).toBe(true);
    }
  });

  it('can map two tools to one name (connectMcpServers refuses that)', () => {
    expect(mcpToolName('shop', 'Get-Order')).toBe(mcpToolName('shop', 'get_order'));
    expect(mcpToolName('a', 'b_c')).toBe(mcpToolName('a_b', 'c'));
  });
});

describe('mcpPoolName', () => {
  it('is mcp-<server>, a valid pool token', () => {
    expect(mcpPoolName('shop_eu')).toBe('mcp-shop_eu');
    expect(assertToken('pool', mcpPoolName('shop_eu'))).toBe('mcp-shop_eu');
  });
});
