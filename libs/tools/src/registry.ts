import { z } from 'zod';
import type { ToolDefinition } from './tool-definition';

export class UnknownToolError extends Error {
  override name = 'UnknownToolError';
  readonly code = 'UNKNOWN_TOOL';
}

/** The tools a deployment knows, by name. Built once at start-up; read-only after. */
export class ToolRegistry {
  private readonly tools = new Map<string, ToolDefinition>();
  private readonly jsonSchemas = new Map<string, Record<string, unknown>>();

  constructor(tools: readonly ToolDefinition[] = []) {
    for (const t of tools) this.register(t);
  }

  register(tool: ToolDefinition): void {
    if (this.tools.has(tool.name)) throw new Error(`tool '${tool.name}' registered twice`);
    this.tools.set(tool.name, tool);
  }

  get(name: string): ToolDefinition {
    const t = this.tools.get(name);
    if (!t) throw new UnknownToolError(`unknown tool '${name}'`);
    return t;
  }

  has(name: string): boolean {
    return this.tools.has(name);
  }

  /** The pool a tool runs in; unknown tools route to `default`, where they are rejected. */
  poolOf(name: string): string {
    return this.tools.get(name)?.pool ?? 'default';
  }

  pools(): string[] {
    return [...new Set([...this.tools.values()].map((t) => t.pool))];
  }

  list(): ToolDefinition[] {
    return [...this.tools.values()];
  }

  /** Name → version of the given tools, recorded with each model decision. */
  versions(names: readonly string[]): Record<string, string> {
    return Object.fromEntries(
      names.filter((n) => this.has(n)).map((n) => [n, this.get(n).version]),
    );
  }

  /** JSON Schema of a tool's input, as offered to a model (computed once per tool). */
  inputJsonSchema(name: string): Record<string, unknown> {
    let schema = this.jsonSchemas.get(name);
    if (!schema) {
      const tool = this.get(name);
      // A tool that brings its own JSON Schema (MCP) is offered with it, minus `$schema`
      // (some providers refuse a draft marker they do not speak).
      const { $schema: _draft, ...own } = tool.inputJsonSchema ?? z.toJSONSchema(tool.input);
      schema = own;
      this.jsonSchemas.set(name, schema);
    }
    return schema;
  }
}
