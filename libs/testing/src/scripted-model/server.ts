import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from '../http-body';
import { keepLast } from '../keep-last';
import { closeServer, listen, sendJson } from '../http-server';
import {
  anthropicErrorBody,
  anthropicMessageBody,
  anthropicStatusFaultBody,
  parseAnthropicRequest,
  toChatCompletionRequest,
} from './anthropic-wire';
import { completionBody, errorBody, statusFaultBody } from './responses';
import type {
  AnthropicMessagesRequest,
  ChatCompletionRequest,
  ContentReply,
  ModelProtocol,
  ModelScript,
  RecordedRequest,
  RejectedRequest,
  ScriptedReply,
  StatusFault,
  ToolCallsReply,
} from './types';

export interface ScriptedModelOptions {
  /** Interface to listen on. Default `127.0.0.1`; `0.0.0.0` inside a container. */
  host?: string;
  /** Default 0 (an ephemeral port). */
  port?: number;
  /** Larger request bodies get 413. Default 10 MiB. */
  maxBodyBytes?: number;
  /**
   * How many requests `requests` and `rejected` keep, the oldest dropped first.
   * Default: all of them, for tests that read them back. A long-running server
   * (`keel model-server`: the benchmark's, docker compose's) keeps none: each
   * request kept is ~4 KiB that would otherwise grow for as long as it serves.
   */
  keepRequests?: number;
}

export interface ScriptedModel {
  /** `http://127.0.0.1:<port>/v1`: what the OpenAI SDK takes as `baseURL`. */
  baseUrl: string;
  /** `http://127.0.0.1:<port>`: what the Anthropic SDK takes as `baseURL` (it adds `/v1/messages`). */
  anthropicBaseUrl: string;
  port: number;
  /** Every model request (both protocols) handed to the script, in arrival order (see `keepRequests`). */
  readonly requests: RecordedRequest[];
  /** Requests refused before reaching the script (wrong path, bad JSON, streaming; see `keepRequests`). */
  readonly rejected: RejectedRequest[];
  /** Stops listening and destroys open connections, including hanging ones. */
  close(): Promise<void>;
}

const CHAT_PATH = '/v1/chat/completions';
const MESSAGES_PATH = '/v1/messages';
const HEALTH_PATH = '/health';

/** What differs between the two protocols; the script, faults and recording are shared. */
interface Wire {
  /** The request the script is given (and, for Anthropic, the request as sent), or why it is refused. */
  parse(
    raw: string,
  ): { body: ChatCompletionRequest; anthropicBody?: AnthropicMessagesRequest } | string;
  errorBody(status: number, message?: string): unknown;
  statusFaultBody(fault: StatusFault): string;
  replyBody(
    index: number,
    request: ChatCompletionRequest,
    reply: ContentReply | ToolCallsReply,
  ): unknown;
  requestIdHeaders(requestId: string): Record<string, string>;
  malformedBody: string;
}

/**
 * A real HTTP server speaking the OpenAI chat-completions protocol and the
 * Anthropic Messages protocol (both non-streaming), answering each request as
 * `script` says. Services under test reach it through their model base URL
 * exactly as they would reach a provider, so the HTTP client, retries,
 * timeouts and fault handling are exercised for real.
 */
export async function startScriptedModel(
  script: ModelScript,
  options: ScriptedModelOptions = {},
): Promise<ScriptedModel> {
  const maxBodyBytes = options.maxBodyBytes ?? 10 * 1024 * 1024;
  const keep = options.keepRequests ?? Infinity;
  const requests: RecordedRequest[] = [];
  const rejected: RejectedRequest[] = [];
  /** Requests handed to the script so far: the script's `index`, whatever is kept. */
  let received = 0;
  const timers = new Set<NodeJS.Timeout>();
  let toolCallCounter = 0;
  let toolUseCounter = 0;
  let closed = false;

  const wires: Record<ModelProtocol, Wire> = {
    openai: {
      parse: (raw) => {
        const body = parseRequest(raw);
        return typeof body === 'string' ? body : { body };
      },
      errorBody,
      statusFaultBody,
      replyBody: (index, request, reply) =>
        completionBody({
          id: `chatcmpl-scripted-${index + 1}`,
          request,
          reply,
          nextToolCallId: () => `call_${++toolCallCounter}`,
        }),
      requestIdHeaders: (requestId) => ({ 'x-request-id': requestId }),
      malformedBody: '{"id": "chatcmpl-broken", "choices": [ <this is not json',
    },
    anthropic: {
      parse: (raw) => {
        const anthropicBody = parseAnthropicRequest(raw);
        if (typeof anthropicBody === 'string') return anthropicBody;
        return { body: toChatCompletionRequest(anthropicBody), anthropicBody };
      },
      errorBody: anthropicErrorBody,
      statusFaultBody: anthropicStatusFaultBody,
      replyBody: (index, request, reply) =>
        anthropicMessageBody({
          id: `msg_scripted_${index + 1}`,
          request,
          reply,
          nextToolUseId: () => `toolu_${++toolUseCounter}`,
        }),
      requestIdHeaders: (requestId) => ({ 'request-id': requestId, 'x-request-id': requestId }),
      malformedBody: '{"id": "msg_broken", "type": "message", "content": [ <this is not json',
    },
  };

  const reject = (
    req: IncomingMessage,
    res: ServerResponse,
    rawBody: string,
    status: number,
    reason: string,
    wire: Wire = wires.openai,
  ) => {
    keepLast(rejected, keep, {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      rawBody,
      status,
      reason,
    });
    sendJson(res, status, wire.errorBody(status, `scripted model: ${reason}`));
  };

  const delay = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const protocol = routeOf(req.method, path);
    let raw: string;
    try {
      raw = (await readBody(req, maxBodyBytes)).toString('utf8');
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      return reject(req, res, '', 413, reason, wires[protocol ?? 'openai']);
    }
    // Liveness probe (compose healthcheck): answered, never recorded.
    if (req.method === 'GET' && path === HEALTH_PATH) return sendJson(res, 200, { status: 'ok' });
    if (!protocol) {
      return reject(
        req,
        res,
        raw,
        404,
        `no route for ${req.method ?? '?'} ${path}; only POST ${CHAT_PATH} and POST ${MESSAGES_PATH}`,
      );
    }
    const wire = wires[protocol];
    const parsed = wire.parse(raw);
    if (typeof parsed === 'string') return reject(req, res, raw, 400, parsed, wire);
    const { body, anthropicBody } = parsed;
    if (body.stream === true)
      return reject(req, res, raw, 400, 'stream: true is not supported', wire);

    const index = received++;
    keepLast(requests, keep, {
      index,
      protocol,
      path,
      headers: req.headers,
      body,
      ...(anthropicBody ? { anthropicBody } : {}),
      receivedAt: new Date(),
    });
    let reply: ScriptedReply;
    try {
      reply = await script(body, index);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      sendJson(
        res,
        500,
        wire.errorBody(500, `scripted model: script threw for request ${index}: ${message}`),
      );
      return;
    }
    if (!('fault' in reply) && reply.delayMs) await delay(reply.delayMs);
    if (closed) return;
    const requestId = `req_scripted_${index + 1}`;

    if ('fault' in reply) {
      switch (reply.fault) {
        case 'status': {
          const headers = wire.requestIdHeaders(requestId);
          if (reply.retryAfterSeconds !== undefined)
            headers['retry-after'] = String(reply.retryAfterSeconds);
          res.writeHead(reply.status, { 'content-type': 'application/json', ...headers });
          res.end(wire.statusFaultBody(reply));
          return;
        }
        case 'hang':
          // Never answered: the socket stays open until the client gives up or close() runs.
          return;
        case 'drop':
          req.socket.destroy();
          return;
        case 'malformed':
          res.writeHead(200, {
            'content-type': 'application/json',
            ...wire.requestIdHeaders(requestId),
          });
          res.end(wire.malformedBody);
          return;
      }
    }
    sendJson(res, 200, wire.replyBody(index, body, reply), wire.requestIdHeaders(requestId));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, errorBody(500, `scripted model: ${String(err)}`));
      else res.destroy();
    });
  });
  await listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
  const port = (server.address() as AddressInfo).port;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    anthropicBaseUrl: `http://127.0.0.1:${port}`,
    port,
    requests,
    rejected,
    close: () => {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      return closeServer(server);
    },
  };
}

function routeOf(method: string | undefined, path: string): ModelProtocol | undefined {
  if (method !== 'POST') return undefined;
  if (path === CHAT_PATH) return 'openai';
  return path === MESSAGES_PATH ? 'anthropic' : undefined;
}

/** The parsed request, or why it is refused. */
function parseRequest(raw: string): ChatCompletionRequest | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return 'request body is not JSON';
  }
  if (typeof parsed !== 'object' || parsed === null) return 'request body is not a JSON object';
  const body = parsed as Partial<ChatCompletionRequest>;
  if (typeof body.model !== 'string' || !body.model) return "'model' is required";
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    return "'messages' must be a non-empty array";
  return body as ChatCompletionRequest;
}
