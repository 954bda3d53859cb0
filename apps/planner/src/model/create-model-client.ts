import type { ModelMap, PlannerConfig } from '../config';
import { AnthropicMessagesModel } from './anthropic-messages-model';
import type { ModelClient } from './model-client';
import { OpenAiChatModel } from './openai-chat-model';

/**
 * The client for one (provider, model) of the model map. Keys come from the
 * environment variable the provider names (`apiKeyEnv`), or `KEEL_MODEL_API_KEY`
 * for the single-provider setup; they are handed to the SDK and never logged.
 */
export function createModelClient(
  config: PlannerConfig,
  map: ModelMap,
  provider: string,
  model: string,
  env: Record<string, string | undefined>,
): ModelClient {
  const spec = map.providers[provider];
  if (!spec) throw new Error(`model map: unknown provider '${provider}'`);
  const apiKey = spec.apiKeyEnv
    ? (env[spec.apiKeyEnv] ?? '')
    : config.KEEL_MODELS
      ? 'not-needed'
      : config.KEEL_MODEL_API_KEY;
  const opts = {
    provider,
    baseURL: spec.baseUrl,
    apiKey,
    timeoutMs: spec.timeoutMs ?? config.KEEL_MODEL_TIMEOUT_MS,
    model,
  };
  return spec.kind === 'anthropic' ? new AnthropicMessagesModel(opts) : new OpenAiChatModel(opts);
}
