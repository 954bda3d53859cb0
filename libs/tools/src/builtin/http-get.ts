import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { z } from 'zod';
import { defineTool, SideEffect, ToolError, type ToolContext } from '../tool-definition';
import { HostAllowList } from './host-allow-list';

/** Largest body returned; the rest is cut and `truncated` is set. */
export const HTTP_GET_MAX_BYTES = 256 * 1024;

/**
 * `http_get`: fetch a URL from an allow-listed host (none by default), with a
 * size cap and the tool's timeout. 2xx–4xx are results (a 404 is an answer);
 * 429 is rate-limited (Retry-After honoured), 5xx and network errors transient.
 * Runs in its own pool (`http`) with that pool's keep-alive agents.
 */
export function httpGetTool(allowedHosts: string | readonly string[]) {
  const allow = new HostAllowList(allowedHosts);
  return defineTool({
    name: 'http_get',
    version: '1.0.0',
    description:
      'Fetch a web page or API response by URL (GET). Only some hosts are allowed; the body is cut at 256 KiB.',
    pool: 'http',
    sideEffect: SideEffect.Read,
    cacheable: true,
    timeoutMs: 10_000,
    // One breaker per host: a failing site does not stop calls to the others.
    breakerKey: ({ url }) => `http_get:${hostOf(url)}`,
    input: z.object({ url: z.string().url().max(2000) }).strict(),
    output: z.object({
      status: z.number().int(),
      contentType: z.string(),
      body: z.string(),
      truncated: z.boolean(),
    }),
    execute: ({ url }, ctx) => fetchCapped(allow.check(url), ctx),
  });
}

function fetchCapped(url: URL, ctx: ToolContext) {
  return new Promise<{ status: number; contentType: string; body: string; truncated: boolean }>(
    (resolve, reject) => {
      const secure = url.protocol === 'https:';
      const req = (secure ? httpsRequest : httpRequest)(
        url,
        {
          method: 'GET',
          agent: secure ? ctx.resources.https : ctx.resources.http,
          headers: { accept: '*/*', 'user-agent': 'keel-http-get/1' },
          signal: ctx.signal,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status === 429 || status >= 500) {
            res.resume();
            const retryAfter = Number(res.headers['retry-after']);
            reject(
              new ToolError(
                `HTTP_${status}`,
                `${url.host} answered ${status}`,
                status === 429 ? 'rate_limited' : 'transient',
                Number.isFinite(retryAfter) && retryAfter >= 0
                  ? { retryAfterMs: retryAfter * 1000 }
                  : {},
              ),
            );
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          let truncated = false;
          res.on('data', (c: Buffer) => {
            if (size >= HTTP_GET_MAX_BYTES) {
              truncated = true;
              res.destroy();
              return;
            }
            chunks.push(c);
            size += c.length;
          });
          const finish = () => {
            const buf = Buffer.concat(chunks);
            resolve({
              status,
              contentType: String(res.headers['content-type'] ?? ''),
              body: buf.subarray(0, HTTP_GET_MAX_BYTES).toString('utf8'),
              truncated: truncated || buf.length > HTTP_GET_MAX_BYTES,
            });
          };
          res.on('end', finish);
          res.on('close', finish);
          res.on('error', (e) => (truncated ? finish() : reject(e)));
        },
      );
      req.on('error', (err) =>
        reject(
          new ToolError(
            'HTTP_CONNECTION',
            `could not reach ${url.host}: ${err.message}`,
            'transient',
          ),
        ),
      );
      req.end();
    },
  );
}

function hostOf(url: string): string {
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return 'invalid';
  }
}
