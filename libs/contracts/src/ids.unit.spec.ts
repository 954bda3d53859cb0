import { runIdFor, UUID_RE, uuidv7 } from './ids';

describe('ids', () => {
  it('uuidv7 is a version-7 RFC 4122 id with the time in front, unique across pool refills', () => {
    const ids = Array.from({ length: 1000 }, () => uuidv7(0x0190_f5a0_1234));
    expect(new Set(ids).size).toBe(1000); // 1000 ids span several 256-id pool refills
    for (const id of ids) {
      expect(id).toMatch(UUID_RE);
      expect(id.slice(0, 13)).toBe('0190f5a0-1234');
      expect(id[14]).toBe('7');
      expect('89ab').toContain(id[19]);
    }
  });

  it('name-based ids are the same for the same name', () => {
    expect(runIdFor('acme', 'r-1')).toBe(runIdFor('acme', 'r-1'));
    expect(runIdFor('acme', 'r-1')).not.toBe(runIdFor('acme', 'r-2'));
  });
});
