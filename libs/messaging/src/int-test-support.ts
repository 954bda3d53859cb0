/**
 * Helpers for this library's integration tests (not exported from the
 * package). Every test gets its own deployment prefix so tests never see each
 * other's streams or subjects on the shared NATS server.
 */
import { keelNames, type KeelNames } from '@keel/contracts';
import { randomBytes } from 'node:crypto';
import { connect, type JetStreamManager, type NatsConnection, type StoredMsg } from 'nats';
import type { MessagingLogger } from './logger';

export const NATS_URL = process.env['KEEL_TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';

/** `t` + 8 random lowercase alphanumerics. */
export function randomPrefix(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(8);
  let s = 't';
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return s;
}

export function testNames(): KeelNames {
  return keelNames(randomPrefix());
}

export function connectTest(name = 'messaging-int-test'): Promise<NatsConnection> {
  return connect({ servers: NATS_URL, name });
}

/** Polls `cond` until it is truthy or `timeoutMs` passes (then throws, naming `what`). */
export async function waitFor<T>(
  what: string,
  cond: () => T | Promise<T>,
  { timeoutMs = 15_000, intervalMs = 25 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Deletes the deployment's streams if they exist (stream deletion is allowed even with deny_delete). */
export async function deleteStreams(jsm: JetStreamManager, names: KeelNames): Promise<void> {
  for (const s of Object.values(names.streams)) {
    try {
      await jsm.streams.delete(s);
    } catch {
      // not there
    }
  }
}

/** Every message currently stored in `stream`, oldest first. */
export async function readStream(jsm: JetStreamManager, stream: string): Promise<StoredMsg[]> {
  const info = await jsm.streams.info(stream);
  const out: StoredMsg[] = [];
  if (info.state.messages === 0) return out;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    try {
      out.push(await jsm.streams.getMessage(stream, { seq }));
    } catch {
      // deleted / interior gap
    }
  }
  return out;
}

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string;
}

/** A logger that records entries (and prints errors when KEEL_TEST_LOG is set). */
export function captureLogger(): MessagingLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: LogEntry['level']) =>
    (obj: Record<string, unknown>, msg: string): void => {
      entries.push({ level, obj, msg });
      if (process.env['KEEL_TEST_LOG']) console.log(level, msg, JSON.stringify(obj));
    };
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export const encode = (s: string): Uint8Array => new TextEncoder().encode(s);
export const decode = (b: Uint8Array): string => new TextDecoder().decode(b);
