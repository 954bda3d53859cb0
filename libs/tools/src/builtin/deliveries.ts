import { z } from 'zod';
import { defineTool, SideEffect } from '../tool-definition';
import { HostAllowList } from './host-allow-list';

const Queued = z.object({ deliveryId: z.string().uuid(), status: z.literal('queued') });

/**
 * `webhook_post`: POST a JSON body to an allow-listed URL. It does not act:
 * it asks the outbox (recorded with the call's outcome, in one transaction),
 * which signs the request, sends the call's idempotency key, retries, and
 * dead-letters after its limit.
 */
export function webhookPostTool(allowedHosts: string | readonly string[]) {
  const allow = new HostAllowList(allowedHosts);
  return defineTool({
    name: 'webhook_post',
    version: '1.0.0',
    description: 'Send a JSON payload to a webhook URL (delivered once, with retries).',
    pool: 'default',
    sideEffect: SideEffect.External,
    timeoutMs: 1_000,
    input: z
      .object({ url: z.string().url().max(2000), body: z.record(z.string(), z.unknown()) })
      .strict(),
    output: Queued,
    execute: ({ url, body }, ctx) =>
      Promise.resolve({
        deliveryId: ctx.deliver({
          channel: 'webhook',
          target: allow.check(url).href,
          payload: body,
        }),
        status: 'queued' as const,
      }),
  });
}

/** `send_email`: send a plain-text email through the outbox (SMTP), once per call. */
export const sendEmailTool = defineTool({
  name: 'send_email',
  version: '1.0.0',
  description: 'Send a plain-text email (delivered once, with retries).',
  pool: 'default',
  sideEffect: SideEffect.External,
  timeoutMs: 1_000,
  input: z
    .object({
      to: z.string().email().max(320),
      subject: z.string().min(1).max(200),
      text: z.string().max(50_000),
    })
    .strict(),
  output: Queued,
  execute: ({ to, subject, text }, ctx) =>
    Promise.resolve({
      deliveryId: ctx.deliver({ channel: 'email', target: to, payload: { subject, text } }),
      status: 'queued' as const,
    }),
});
