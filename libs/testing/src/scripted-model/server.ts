import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from '../http-body';
import { closeServer, listen, sendJson } from '../http-server';
import { completionBody, errorBody, statusFaultBody } from './responses';
import type {
  ChatCompletionRequest,
  ModelScript,
  RecordedRequest,
  RejectedRequest,
  ScriptedReply,
} from './types';

export interface ScriptedModelOptions {
  /** Interface to listen on. Default `127.0.0.1`; `0.0.0.0` inside a container. */
  host?: string;
  /** Default 0 (an ephemeral port). */
  port?: number;
  /** Larger request bodies get 413. Default 10 MiB. */
  maxBodyBytes?: number;
}

export interface ScriptedModel {
  /** `http://127.0.0.1:<port>/v1`: what the OpenAI SDK takes as `baseURL`. */
  baseUrl: string;
  port: number;
  /** Every chat-completions request handed to the script, in arrival order. */
  readonly requests: RecordedRequest[];
  /** Requests refused before reaching the script (wrong path, bad JSON, streaming). */
  readonly rejected: RejectedRequest[];
  /** Stops listening and destroys open connections, including hanging ones. */
  close(): Promise<void>;
}

const CHAT_PATH = '/v1/chat/completions';
const HEALTH_PATH = '/health';

/**
 * A real HTTP server speaking the OpenAI chat-completions protocol (non-streaming),
 * answering each request as `script` says. Services under test reach it through
 * `KEEL_MODEL_BASE_URL` exactly as they would reach a provider, so the HTTP
 * client, retries, timeouts and fault handling are exercised for real.
 */
export async function startScriptedModel(
  script: ModelScript,
  options: ScriptedModelOptions = {},
): Promise<ScriptedModel> {
  const maxBodyBytes = options.maxBodyBytes ?? 10 * 1024 * 1024;
  const requests: RecordedRequest[] = [];
  const rejected: RejectedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let toolCallCounter = 0;
  let closed = false;

  const reject = (
    req: IncomingMessage,
    res: ServerResponse,
    rawBody: string,
    status: number,
    reason: string,
  ) => {
    rejected.push({
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      rawBody,
      status,
      reason,
    });
    sendJson(res, status, errorBody(status, `scripted model: ${reason}`));
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
    let raw: string;
    try {
      raw = (await readBody(req, maxBodyBytes)).toString('utf8');
    } catch (err) {
      return reject(req, res, '', 413, err instanceof Error ? err.message : String(err));
    }
    // Liveness probe (compose healthcheck): answered, never recorded.
    if (req.method === 'GET' && path === HEALTH_PATH) return sendJson(res, 200, { status: 'ok' });
    if (req.method !== 'POST' || path !== CHAT_PATH) {
      return reject(
        req,
        res,
        raw,
        404,
        `no route for ${req.method ?? '?'} ${path}; only POST ${CHAT_PATH}`,
      );
    }
    const body = parseRequest(raw);
    if (typeof body === 'string') return reject(req, res, raw, 400, body);
    if (body.stream === true) return reject(req, res, raw, 400, 'stream: true is not supported');

    const index = requests.length;
    requests.push({ index, path, headers: req.headers, body, receivedAt: new Date() });
    let reply: ScriptedReply;
    try {
      reply = await script(body, index);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      sendJson(
        res,
        500,
        errorBody(500, `scripted model: script threw for request ${index}: ${message}`),
      );
      return;
    }
    if (!('fault' in reply) && reply.delayMs) await delay(reply.delayMs);
    if (closed) return;
    const requestId = `req_scripted_${index + 1}`;

    if ('fault' in reply) {
      switch (reply.fault) {
        case 'status': {
          const headers: Record<string, string> = { 'x-request-id': requestId };
          if (reply.retryAfterSeconds !== undefined)
            headers['retry-after'] = String(reply.retryAfterSeconds);
          res.writeHead(reply.status, { 'content-type': 'application/json', ...headers });
          res.end(statusFaultBody(reply));
          return;
        }
        case 'hang':
          // Never answered: the socket stays open until the client gives up or close() runs.
          return;
        case 'drop':
          req.socket.destroy();
          return;
        case 'malformed':
          res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': requestId });
          res.end('{"id": "chatcmpl-broken", "choices": [ <this is not json');
          return;
      }
    }
    const completion = completionBody({
      id: `chatcmpl-scripted-${index + 1}`,
      request: body,
      reply,
      nextToolCallId: () => `call_${++toolCallCounter}`,
    });
    sendJson(res, 200, completion, { 'x-request-id': requestId });
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
