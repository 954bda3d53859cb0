import { builtinTools, type ToolDefinition } from '@keel/tools';
import type { ToolExecutorConfig } from './config';

/** The built-in tools with this deployment's allow-lists. */
export const builtinToolsFor = (config: ToolExecutorConfig): ToolDefinition[] =>
  builtinTools({
    httpGetAllowedHosts: config.KEEL_HTTP_GET_ALLOWED_HOSTS,
    webhookAllowedHosts: config.KEEL_WEBHOOK_ALLOWED_HOSTS,
  });
