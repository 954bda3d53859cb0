import type { ToolDefinition } from '../tool-definition';
import { calculatorTool } from './calculator';
import { sendEmailTool, webhookPostTool } from './deliveries';
import { httpGetTool } from './http-get';
import { kvGetTool, kvPutTool } from './kv';
import { noopTool } from './noop';
import { sleepTool } from './sleep';

export { calculatorTool, noopTool, sleepTool, kvGetTool, kvPutTool, sendEmailTool };
export { httpGetTool, webhookPostTool };
export * from './arithmetic';
export { HostAllowList } from './host-allow-list';

/** Where the built-in network tools may reach (the tool executor's configuration). */
export interface BuiltinToolOptions {
  readonly httpGetAllowedHosts?: string;
  readonly webhookAllowedHosts?: string;
}

/**
 * Keel's built-in tools. The planner needs only their names, schemas and pools
 * (it builds them with no options); the tool executor passes the allow-lists.
 */
export function builtinTools(opts: BuiltinToolOptions = {}): ToolDefinition[] {
  return [
    calculatorTool,
    noopTool,
    sleepTool,
    kvGetTool,
    kvPutTool,
    httpGetTool(opts.httpGetAllowedHosts ?? ''),
    webhookPostTool(opts.webhookAllowedHosts ?? ''),
    sendEmailTool,
  ] as ToolDefinition[];
}
