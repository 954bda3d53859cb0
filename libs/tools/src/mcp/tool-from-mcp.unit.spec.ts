import { McpToolOutput, schemaHash } from './tool-from-mcp';

describe('schemaHash (the tool version suffix)', () => {
  const input = { type: 'object' as const, properties: { a: { type: 'number' } }, required: ['a'] };

  it('is short hex and stable under key order', () => {
    const h = schemaHash({ description: 'Add.', inputSchema: input });
    expect(h).toMatch(/^[0-9a-f]{10}$/);
    const reordered = {
      required: ['a'],
      properties: { a: { type: 'number' } },
      type: 'object' as const,
    };
    expect(schemaHash({ description: 'Add.', inputSchema: reordered })).toBe(h);
  });

  it('changes when the description or the input schema changes', () => {
    const h = schemaHash({ description: 'Add.', inputSchema: input });
    expect(schemaHash({ description: 'Add two.', inputSchema: input })).not.toBe(h);
    expect(schemaHash({ inputSchema: input })).not.toBe(h);
    const wider = { ...input, properties: { a: { type: 'number' }, b: { type: 'number' } } };
    expect(schemaHash({ description: 'Add.', inputSchema: wider })).not.toBe(h);
  });
});

describe('McpToolOutput', () => {
  it('takes content with optional structured content, and keeps other keys', () => {
    expect(McpToolOutput.parse({ content: [] })).toEqual({ content: [] });
    expect(
      McpToolOutput.parse({ content: [{ type: 'text', text: 'x' }], structuredContent: { a: 1 } }),
    ).toEqual({
      content: [{ type: 'text', text: 'x' }],
      structuredContent: { a: 1 },
    });
    expect(McpToolOutput.safeParse({}).success).toBe(false);
    expect(McpToolOutput.safeParse({ content: [], structuredContent: [1] }).success).toBe(false);
  });
});
