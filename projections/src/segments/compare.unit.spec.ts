import { compareValue, relativeDateChangeAt, valueAtPath } from './compare';

const DAY = 86_400_000;
const now = Date.parse('2026-03-31T12:00:00Z');

describe('valueAtPath', () => {
  const root = { plan: 'pro', 'address.city': 'literal', address: { city: 'Utrecht' }, items: [{ sku: 'A1' }, { sku: 'B2' }] };

  it('reads keys, dotted paths and array indices', () => {
    expect(valueAtPath(root, 'plan')).toBe('pro');
    expect(valueAtPath({ address: { city: 'Utrecht' } }, 'address.city')).toBe('Utrecht');
    expect(valueAtPath(root, 'items.1.sku')).toBe('B2');
    expect(valueAtPath(root, 'items.2.sku')).toBeUndefined();
    expect(valueAtPath(root, 'items.x')).toBeUndefined();
    expect(valueAtPath(root, 'plan.length')).toBeUndefined();
  });

  it('prefers a key that literally contains the dot', () => {
    expect(valueAtPath(root, 'address.city')).toBe('literal');
  });

  it('reads only own properties', () => {
    expect(valueAtPath({}, 'constructor')).toBeUndefined();
    expect(valueAtPath({ a: {} }, 'a.__proto__')).toBeUndefined();
    expect(valueAtPath('text', 'length')).toBeUndefined();
  });
});

describe('compareValue', () => {
  const cmp = (actual: unknown, op: Parameters<typeof compareValue>[1], value?: unknown) => compareValue(actual, op, value, now);

  it('compares numbers numerically and does not coerce strings', () => {
    expect(cmp(10, 'gt', 9)).toBe(true);
    expect(cmp(10, 'gte', 10)).toBe(true);
    expect(cmp(10, 'lt', 9)).toBe(false);
    expect(cmp(9, 'lte', 10)).toBe(true);
    expect(cmp(42, 'eq', 42)).toBe(true);
    expect(cmp('42', 'eq', 42)).toBe(false);
    expect(cmp('42', 'gt', 1)).toBe(false);
  });

  it('compares strings exactly, with contains as a substring and in as a list', () => {
    expect(cmp('pro', 'eq', 'pro')).toBe(true);
    expect(cmp('Pro', 'eq', 'pro')).toBe(false);
    expect(cmp('pro', 'neq', 'free')).toBe(true);
    expect(cmp('ann@example.com', 'contains', '@example.')).toBe(true);
    expect(cmp('pro', 'in', ['free', 'pro'])).toBe(true);
    expect(cmp('team', 'in', ['free', 'pro'])).toBe(false);
    expect(cmp(true, 'eq', true)).toBe(true);
  });

  it('treats arrays as sets for contains and in', () => {
    expect(cmp(['vip', 'beta'], 'contains', 'beta')).toBe(true);
    expect(cmp([1, 2], 'contains', 2)).toBe(true);
    expect(cmp(['vip'], 'contains', 'vi')).toBe(false);
    expect(cmp(['vip', 'beta'], 'in', ['beta', 'gamma'])).toBe(true);
    expect(cmp(['vip'], 'in', ['beta'])).toBe(false);
  });

  it('makes every comparison with a missing (or null) value false except neq, and exists false', () => {
    for (const missing of [undefined, null]) {
      for (const op of ['eq', 'gt', 'gte', 'lt', 'lte', 'contains', 'in'] as const) expect(cmp(missing, op, op === 'in' ? ['x'] : 1)).toBe(false);
      expect(cmp(missing, 'neq', 'x')).toBe(true);
      expect(cmp(missing, 'exists')).toBe(false);
      expect(cmp(missing, 'exists', true)).toBe(false);
      expect(cmp(missing, 'exists', false)).toBe(true);
    }
    expect(cmp('', 'exists')).toBe(true);
    expect(cmp(0, 'exists', false)).toBe(false);
  });

  it('compares ISO dates as instants, with absolute and relative values', () => {
    expect(cmp('2026-03-01T00:00:00Z', 'lt', '2026-03-02')).toBe(true);
    expect(cmp('2026-03-01T01:00:00+01:00', 'eq', '2026-03-01')).toBe(true);
    expect(cmp('2026-03-01T00:00:00Z', 'lt', { ago: '30d' })).toBe(true); // 30.5 days before now
    expect(cmp('2026-03-02T00:00:00Z', 'lt', { ago: '30d' })).toBe(false);
    expect(cmp('2026-04-02T00:00:00Z', 'lte', { in: '3d' })).toBe(true);
    expect(cmp('2026-04-05T00:00:00Z', 'lte', { in: '3d' })).toBe(false);
    expect(cmp('not a date', 'lt', { ago: '1d' })).toBe(false);
    expect(cmp(1_700_000_000_000, 'lt', { ago: '1d' })).toBe(false);
    expect(cmp('2026-03-01', 'gt', 5)).toBe(false);
  });

  it('reads offset-less dates in the given time zone', () => {
    // Midnight in Amsterdam is 23:00 UTC the day before.
    expect(compareValue('2026-03-01', 'lt', '2026-02-28T23:30:00Z', now, 'Europe/Amsterdam')).toBe(true);
    expect(compareValue('2026-03-01', 'lt', '2026-02-28T23:30:00Z', now)).toBe(false);
  });
});

describe('relativeDateChangeAt', () => {
  const date = '2026-03-20T12:00:00Z';
  const t = Date.parse(date);

  it('finds the first millisecond the answer differs, for every ordering operator', () => {
    // date < now - 30d first holds at date + 30d + 1 ms; date <= now - 30d at date + 30d.
    expect(relativeDateChangeAt(date, 'lt', { ago: '30d' }, now)).toBe(t + 30 * DAY + 1);
    expect(relativeDateChangeAt(date, 'lte', { ago: '30d' }, now)).toBe(t + 30 * DAY);
    expect(relativeDateChangeAt(date, 'gt', { ago: '30d' }, now)).toBe(t + 30 * DAY);
    expect(relativeDateChangeAt(date, 'gte', { ago: '30d' }, now)).toBe(t + 30 * DAY + 1);
    for (const op of ['lt', 'lte', 'gt', 'gte'] as const) {
      const at = relativeDateChangeAt(date, op, { ago: '30d' }, now)!;
      expect(compareValue(date, op, { ago: '30d' }, at)).not.toBe(compareValue(date, op, { ago: '30d' }, at - 1));
    }
  });

  it('works for dates ahead (in) and is undefined once passed or when nothing moves', () => {
    // date <= now + 3d holds from date - 3d.
    expect(relativeDateChangeAt('2026-04-10T00:00:00Z', 'lte', { in: '3d' }, now)).toBe(Date.parse('2026-04-07T00:00:00Z'));
    expect(relativeDateChangeAt(date, 'lte', { in: '3d' }, now)).toBeUndefined();
    expect(relativeDateChangeAt(date, 'lt', '2026-01-01', now)).toBeUndefined();
    expect(relativeDateChangeAt(date, 'eq', { ago: '1d' }, now)).toBeUndefined();
    expect(relativeDateChangeAt(undefined, 'lt', { ago: '1d' }, now)).toBeUndefined();
  });
});
