export * from './tool-definition';
export * from './registry';
export * from './arithmetic';
export { calculatorTool } from './calculator';
export { noopTool } from './noop';
export { sleepTool } from './sleep';
import { calculatorTool } from './calculator';
import { noopTool } from './noop';
import { sleepTool } from './sleep';
import type { ToolDefinition } from './tool-definition';

/** Built-in tools that need nothing but the process itself. */
export const builtinTools: readonly ToolDefinition[] = [
  calculatorTool,
  noopTool,
  sleepTool,
] as readonly ToolDefinition[];
