import { decodeQuotedPrintable, decodeWords, parseRawEmail } from './raw-email';

describe('parseRawEmail', () => {
  it('reads folded headers, an encoded subject and a quoted-printable body', () => {
    const raw = [
      'From: keel@example.test',
      'Subject: =?UTF-8?Q?R=C3=A9port?= =?UTF-8?B?IMO8?=',
      'X-Keel-Idempotency-Key: run-1:',
      ' step-2',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'Caf=C3=A9 =3D 1 and a soft=',
      ' break',
      '',
    ].join('\r\n');
    const parsed = parseRawEmail(raw);
    expect(parsed.headers['x-keel-idempotency-key']).toBe('run-1: step-2');
    expect(parsed.subject).toBe('Réport ü');
    expect(parsed.text).toBe('Café = 1 and a soft break');
  });

  it('keeps the first of repeated headers and reads base64 bodies', () => {
    const body = Buffer.from('héllo\nworld').toString('base64');
    const parsed = parseRawEmail(
      `Received: a\nReceived: b\nContent-Transfer-Encoding: base64\n\n${body}\n`,
    );
    expect(parsed.headers['received']).toBe('a');
    expect(parsed.text).toBe('héllo\nworld');
    expect(parsed.subject).toBeUndefined();
  });

  it('decodes the pieces on their own', () => {
    expect(decodeQuotedPrintable('a=20b=\nc')).toBe('a bc');
    expect(decodeWords('plain')).toBe('plain');
    expect(decodeWords('=?utf-8?q?a_b?=')).toBe('a b');
  });
});
