import { createHash } from 'node:crypto';
import { HERALD_NAMESPACE, bytesToUuid, hexToUuid, isUuid, uuidToBytes, uuidv5, uuidv7 } from './ids';

describe('ids', () => {
  it('uuidv5 matches RFC 9562 (DNS namespace, www.example.com) and is the same with the default namespace spelled out', () => {
    expect(uuidv5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
    expect(uuidv5('cause|handler')).toBe(uuidv5('cause|handler', HERALD_NAMESPACE));
    expect(uuidv5('cause|handler')).not.toBe(uuidv5('cause|other'));
  });

  it("uuidv5 in Herald's namespace is the RFC's SHA-1 of namespace and name, for short, multi-byte and long names alike", () => {
    const reference = (name: string) => {
      const digest = createHash('sha1').update(uuidToBytes(HERALD_NAMESPACE)).update(name, 'utf8').digest();
      digest[6] = (digest[6] & 0x0f) | 0x50;
      digest[8] = (digest[8] & 0x3f) | 0x80;
      return bytesToUuid(digest);
    };
    // Around the shared buffer's edge (4,096 bytes, 16 of them the namespace), in 1- and 3-byte characters.
    const names = ['', 'segment|default|m-1', 'Zoë|日本語|🙂', 'x'.repeat(1360), 'x'.repeat(1361), 'x'.repeat(4080), 'x'.repeat(5000), '€'.repeat(1360), '€'.repeat(1361)];
    for (const name of names) expect(uuidv5(name)).toBe(reference(name));
    // The buffer is reused: a shorter name after a longer one hashes only its own bytes.
    expect(uuidv5('ab')).toBe(reference('ab'));
  });

  it('uuidv7 ids are version 7, RFC variant, unique, and sort in the order they were made', () => {
    const ids = Array.from({ length: 10_000 }, () => uuidv7());
    for (const id of ids.slice(0, 300)) {
      expect(isUuid(id)).toBe(true);
      expect(id[14]).toBe('7');
      expect('89ab').toContain(id[19]);
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('uuidv7 carries the given time in its first 48 bits', () => {
    const at = Date.parse('2030-01-02T03:04:05.678Z');
    const bytes = uuidToBytes(uuidv7(at));
    expect(bytes.readUIntBE(0, 6)).toBeGreaterThanOrEqual(at);
    expect(bytesToUuid(bytes)).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('bytesToUuid and uuidToBytes are inverse, on every byte value, from a Buffer or a plain Uint8Array', () => {
    for (let start = 0; start < 256; start += 16) {
      const bytes = Uint8Array.from({ length: 16 }, (_, i) => (start + i * 17) & 0xff);
      const uuid = bytesToUuid(bytes);
      expect(uuid).toBe(Buffer.from(bytes).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5'));
      expect(isUuid(uuid)).toBe(true);
      expect([...uuidToBytes(uuid)]).toEqual([...bytes]);
      expect(bytesToUuid(Buffer.from(bytes))).toBe(uuid);
      expect(hexToUuid(Buffer.from(bytes).toString('hex'))).toBe(uuid);
    }
    expect(bytesToUuid(uuidToBytes('6BA7B810-9DAD-11D1-80B4-00C04FD430C8'))).toBe('6ba7b810-9dad-11d1-80b4-00c04fd430c8');
  });
});
