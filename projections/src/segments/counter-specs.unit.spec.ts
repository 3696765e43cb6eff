import { canonicalJson, counterKey, counterSpecsFor, fnv1a64 } from './counter-specs';
import type { SegmentDefinition } from './segment-definition';

const def = (id: string, where: SegmentDefinition['where']): SegmentDefinition => ({ id, name: id, where });

describe('counter keys', () => {
  it('hashes with 64-bit FNV-1a over UTF-8 (reference vectors)', () => {
    expect(fnv1a64('')).toBe('cbf29ce484222325');
    expect(fnv1a64('a')).toBe('af63dc4c8601ec8c');
    expect(fnv1a64('foobar')).toBe('85944171f73967e8');
  });

  it('matches a BigInt reference on long and non-ASCII text', () => {
    const reference = (text: string) => {
      let hash = 0xcbf29ce484222325n;
      for (const byte of new TextEncoder().encode(text)) hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
      return hash.toString(16).padStart(16, '0');
    };
    for (const text of ['{"event":"Product Viewed","where":[]}', 'Zoëkt ✓ 商品 🛒', 'x'.repeat(1000)]) expect(fnv1a64(text)).toBe(reference(text));
  });

  it('writes canonical JSON with sorted keys', () => {
    expect(canonicalJson({ b: 1, a: [{ d: null, c: 'x' }], u: undefined })).toBe('{"a":[{"c":"x","d":null}],"b":1}');
  });

  it('is the same whatever the key order, filter order, duplicates or an empty filter list', () => {
    const a = counterKey('Product Viewed', [
      { property: 'category', op: 'eq', value: 'shoes' },
      { property: 'price', op: 'gt', value: 10 },
    ]);
    const b = counterKey('Product Viewed', [
      { value: 10, op: 'gt', property: 'price' },
      { op: 'eq', property: 'category', value: 'shoes' },
      { property: 'price', op: 'gt', value: 10 },
    ]);
    expect(a).toBe(b);
    expect(a).toMatch(/^ctr:[0-9a-f]{16}$/);
    expect(counterKey('Product Viewed', [])).toBe(counterKey('Product Viewed'));
    expect(counterKey('Product Viewed')).not.toBe(a);
    expect(counterKey('Product Viewed ')).not.toBe(counterKey('Product Viewed'));
  });

  it('is stable across releases (a changed key would orphan stored counters)', () => {
    expect(counterKey('Order Completed')).toBe(`ctr:${fnv1a64('{"event":"Order Completed","where":[]}')}`);
    expect(counterKey('Order Completed')).toBe('ctr:' + fnv1a64(canonicalJson({ where: [], event: 'Order Completed' })));
  });
});

describe('counterSpecsFor', () => {
  it('makes one spec per (event, filters), with the longest window and only the ever-count when no window', () => {
    const shoes = [{ property: 'category', op: 'eq' as const, value: 'shoes' }];
    const specs = counterSpecsFor([
      def('a', { all: [{ performed: 'Product Viewed', where: shoes, within: '7d', count: { gte: 3 } }, { not: { performed: 'Order Completed', within: '30d' } }] }),
      def('b', { any: [{ performed: 'Product Viewed', where: shoes, within: '2w' }, { performed: 'Product Viewed', where: shoes }] }),
      def('c', { performed: 'Signed Up' }),
      def('d', { performed: 'Order Completed', within: '1d' }),
    ]);
    expect(specs).toHaveLength(3);
    const byEvent = Object.fromEntries(specs.map((spec) => [spec.event, spec]));
    expect(byEvent['Product Viewed']).toEqual({ key: counterKey('Product Viewed', shoes), event: 'Product Viewed', where: shoes, windowMs: 14 * 86_400_000 });
    expect(byEvent['Order Completed']).toEqual({ key: counterKey('Order Completed'), event: 'Order Completed', windowMs: 30 * 86_400_000 });
    expect(byEvent['Signed Up']).toEqual({ key: counterKey('Signed Up'), event: 'Signed Up' });
    expect(specs.map((spec) => spec.key)).toEqual([...specs.map((spec) => spec.key)].sort());
  });
});
