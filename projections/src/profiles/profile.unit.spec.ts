import type { DomainEvent } from '../events';
import { counterKey } from '../segments/counter-specs';
import {
  canHandleProfileEvent,
  evolveProfile,
  mergeProfiles,
  newProfile,
  occurrenceTime,
  profileTimeZone,
  type CounterSpec,
  type Profile,
} from './profile';

const DAY = 86_400_000;
const T0 = Date.parse('2026-03-01T09:00:00Z');
let seq = 0;

function event(type: string, data: Record<string, unknown>, at: number, receivedAt = at): DomainEvent {
  return {
    id: `e${++seq}`,
    type,
    data,
    metadata: { workspace: 'default', occurredAt: new Date(at).toISOString(), receivedAt: new Date(receivedAt).toISOString(), schemaVersion: 1 },
  };
}
const track = (name: string, properties: Record<string, unknown>, at: number) => event('Tracked', { event: name, properties }, at);

const shoes = [{ property: 'category', op: 'eq' as const, value: 'shoes' }];
const specs: CounterSpec[] = [
  { key: counterKey('Product Viewed', shoes), event: 'Product Viewed', where: shoes, windowMs: 7 * DAY },
  { key: counterKey('Order Completed'), event: 'Order Completed' },
  { key: counterKey('Page Viewed', [{ property: 'path', op: 'eq', value: '/pricing' }]), event: 'Page Viewed', where: [{ property: 'path', op: 'eq', value: '/pricing' }], windowMs: DAY },
  {
    key: counterKey('Order Completed', [{ property: 'items.0.sku', op: 'eq', value: 'A1' }]),
    event: 'Order Completed',
    where: [{ property: 'items.0.sku', op: 'eq', value: 'A1' }],
  },
];
const [viewsKey, ordersKey, pricingKey, skuKey] = specs.map((spec) => spec.key);

function fold(events: DomainEvent[], start: Profile = newProfile('u1', T0)): Profile {
  return events.reduce((profile, e) => evolveProfile(profile, e, specs, occurrenceTime(e)!), start);
}

/** Deep-freezes a profile, so a mutation by evolveProfile would throw. */
function frozen<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    Object.values(value).forEach(frozen);
    Object.freeze(value);
  }
  return value;
}

describe('evolveProfile', () => {
  it('merges traits shallowly, a null deleting one', () => {
    const profile = fold([
      event('Identified', { traits: { plan: 'free', email: 'a@x.io', address: { city: 'Utrecht', zip: '1' } } }, T0),
      event('Identified', { traits: { plan: 'pro', email: null, address: { city: 'Delft' } } }, T0 + 1000),
    ]);
    expect(profile.traits).toEqual({ plan: 'pro', address: { city: 'Delft' } });
  });

  it('merges group traits per group', () => {
    const profile = fold([
      event('Grouped', { groupId: 'acme', traits: { name: 'Acme', seats: 5 } }, T0),
      event('Grouped', { groupId: 'acme', traits: { seats: 7 } }, T0 + 1),
      event('Grouped', { groupId: 'globex', traits: {} }, T0 + 2),
    ]);
    expect(profile.groups).toEqual({ acme: { name: 'Acme', seats: 7 }, globex: {} });
  });

  it('counts tracked events matching each spec, keeping times only inside the window', () => {
    const profile = fold([
      track('Product Viewed', { category: 'shoes' }, T0),
      track('Product Viewed', { category: 'hats' }, T0 + DAY),
      track('Product Viewed', { category: 'shoes' }, T0 + 2.5 * DAY),
      track('Order Completed', { items: [{ sku: 'A1' }] }, T0 + 3 * DAY),
      track('Order Completed', { items: [{ sku: 'B2' }, { sku: 'A1' }] }, T0 + 4 * DAY),
      track('Product Viewed', { category: 'shoes' }, T0 + 9 * DAY),
    ]);
    // The view at T0 left the 7-day window when the one at T0 + 9d was applied (it left at T0 + 7d).
    expect(profile.counters[viewsKey]).toEqual({ count: 3, times: [T0 + 2.5 * DAY, T0 + 9 * DAY] });
    expect(profile.counters[ordersKey]).toEqual({ count: 2, times: [] });
    expect(profile.counters[skuKey]).toEqual({ count: 1, times: [] });
  });

  it('counts page calls as "Page Viewed", with the page name and category as properties', () => {
    const pricing = event('PageViewed', { name: 'Pricing', category: 'Docs', properties: { path: '/pricing' } }, T0);
    const profile = fold([pricing, event('PageViewed', { name: 'Home', properties: { path: '/' } }, T0 + 1)]);
    expect(profile.counters[pricingKey]).toEqual({ count: 1, times: [T0] });
    const byName: CounterSpec = { key: 'k', event: 'Page Viewed', where: [{ property: 'name', op: 'eq', value: 'Pricing' }] };
    const screen: CounterSpec = { key: 's', event: 'Screen Viewed' };
    const viewed = [pricing, event('ScreenViewed', { name: 'Cart', properties: {} }, T0)].reduce(
      (p, e) => evolveProfile(p, e, [byName, screen], T0),
      newProfile('u1', T0),
    );
    expect(viewed.counters).toEqual({ k: { count: 1, times: [] }, s: { count: 1, times: [] } });
  });

  it('keeps out-of-order occurrences sorted and ignores ones already outside the window', () => {
    const now = T0 + 10 * DAY;
    let profile = newProfile('u1', T0);
    for (const at of [T0 + 9 * DAY, T0 + 5 * DAY, T0 + 8 * DAY, T0 + DAY]) {
      profile = evolveProfile(profile, track('Product Viewed', { category: 'shoes' }, at), specs, now);
    }
    expect(profile.counters[viewsKey]).toEqual({ count: 4, times: [T0 + 5 * DAY, T0 + 8 * DAY, T0 + 9 * DAY] });
  });

  it('sets subscriptions from Subscribed / Unsubscribed', () => {
    const profile = fold([event('Unsubscribed', { channel: 'email' }, T0), event('Unsubscribed', { channel: 'sms' }, T0), event('Subscribed', { channel: 'sms' }, T0)]);
    expect(profile.subscriptions).toEqual({ email: false, sms: true });
    expect(fold([event('Unsubscribed', { channel: 'fax' }, T0)]).subscriptions).toEqual({});
  });

  it('tracks first and last seen from tracking events, by occurrence time clamped to receipt', () => {
    const start = newProfile('u1', T0);
    const profile = fold(
      [
        track('Signed Up', {}, T0 + DAY),
        event('Tracked', { event: 'Imported', properties: {} }, T0 - 30 * DAY),
        event('Identified', { traits: {} }, T0 + 5 * DAY + 60_000, T0 + 5 * DAY), // device clock a minute ahead
        event('Unsubscribed', { channel: 'email' }, T0 + 9 * DAY),
      ],
      start,
    );
    expect(profile.firstSeen).toBe(T0 - 30 * DAY);
    expect(profile.lastSeen).toBe(T0 + 5 * DAY);
  });

  it('does not mutate its input and returns the same profile for events it does not read', () => {
    const before = frozen(fold([event('Identified', { traits: { plan: 'pro' } }, T0), track('Product Viewed', { category: 'shoes' }, T0)]));
    const after = fold(
      [
        event('Identified', { traits: { plan: null, age: 30 } }, T0 + 1),
        event('Grouped', { groupId: 'g', traits: { a: 1 } }, T0 + 1),
        track('Product Viewed', { category: 'shoes' }, T0 + 2),
        event('Unsubscribed', { channel: 'push' }, T0 + 3),
      ],
      before,
    );
    expect(after.traits).toEqual({ age: 30 });
    expect(before.traits).toEqual({ plan: 'pro' });
    expect(before.counters[viewsKey]).toEqual({ count: 1, times: [T0] });
    const unrelated = event('SegmentEntered', { segment: 'x' }, T0);
    expect(evolveProfile(before, unrelated, specs, T0)).toBe(before);
    expect(evolveProfile(before, track('Untracked Thing', {}, T0), specs, T0)).toBe(before);
  });

  it('stores a trait named __proto__ as data', () => {
    const profile = fold([event('Identified', { traits: JSON.parse('{"__proto__": {"polluted": true}, "plan": "pro"}') }, T0)]);
    expect(Object.getPrototypeOf(profile.traits)).toBe(Object.prototype);
    expect(Object.keys(profile.traits).sort()).toEqual(['__proto__', 'plan']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('tolerates malformed data', () => {
    const profile = fold([
      event('Tracked', { properties: {} }, T0),
      event('Tracked', { event: 'Product Viewed', properties: 'shoes' }, T0),
      event('Identified', { traits: 'x' }, T0),
      event('Grouped', { traits: { a: 1 } }, T0),
      { ...event('Tracked', { event: 'Order Completed' }, T0), data: null },
    ]);
    expect(profile.traits).toEqual({});
    expect(profile.groups).toEqual({});
    expect(profile.counters).toEqual({});
  });

  it('lists the event types it reads', () => {
    expect(['Tracked', 'Identified', 'PageViewed', 'ScreenViewed', 'Grouped', 'Aliased', 'Subscribed', 'Unsubscribed'].every(canHandleProfileEvent)).toBe(true);
    expect(canHandleProfileEvent('IdentityLinked')).toBe(false);
  });
});

describe('occurrenceTime and profileTimeZone', () => {
  it('clamps occurredAt to receivedAt and falls back to receivedAt', () => {
    expect(occurrenceTime(event('Tracked', {}, T0 + 5000, T0))).toBe(T0);
    expect(occurrenceTime(event('Tracked', {}, T0 - 5000, T0))).toBe(T0 - 5000);
    const broken = event('Tracked', {}, T0);
    broken.metadata.occurredAt = 'garbage';
    expect(occurrenceTime(broken)).toBe(T0);
  });

  it('uses a valid timezone trait, else the workspace zone, else UTC', () => {
    const withZone = { ...newProfile('u', 0), traits: { timezone: 'America/New_York' } };
    expect(profileTimeZone(withZone, 'Europe/Amsterdam')).toBe('America/New_York');
    expect(profileTimeZone({ ...withZone, traits: { timezone: 'Nowhere/Land' } }, 'Europe/Amsterdam')).toBe('Europe/Amsterdam');
    expect(profileTimeZone(newProfile('u', 0))).toBe('UTC');
  });
});

describe('mergeProfiles', () => {
  it('joins an anonymous profile into the user: user traits win, counters add, seen widens, unsubscribes stick', () => {
    const anonymous = fold(
      [
        event('Identified', { traits: { plan: 'free', referrer: 'ad' } }, T0 - 2 * DAY),
        track('Product Viewed', { category: 'shoes' }, T0 - 2 * DAY),
        track('Product Viewed', { category: 'shoes' }, T0 + DAY),
        track('Order Completed', {}, T0 - DAY),
        event('Grouped', { groupId: 'acme', traits: { seats: 3, name: 'ACME' } }, T0 - DAY),
        event('Unsubscribed', { channel: 'email' }, T0),
        event('Subscribed', { channel: 'push' }, T0),
      ],
      newProfile('anon:a1', T0 - 2 * DAY),
    );
    const user = fold([
      event('Identified', { traits: { plan: 'pro', email: 'u@x.io' } }, T0),
      track('Product Viewed', { category: 'shoes' }, T0 + 3000),
      event('Grouped', { groupId: 'acme', traits: { seats: 5 } }, T0),
      event('Subscribed', { channel: 'email' }, T0),
    ]);
    frozen(anonymous);
    frozen(user);
    const merged = mergeProfiles(user, anonymous, specs);
    expect(merged).toEqual({
      userId: 'u1',
      traits: { plan: 'pro', email: 'u@x.io', referrer: 'ad' },
      groups: { acme: { seats: 5, name: 'ACME' } },
      firstSeen: T0 - 2 * DAY,
      lastSeen: T0 + DAY,
      counters: {
        [viewsKey]: { count: 3, times: [T0 - 2 * DAY, T0 + 3000, T0 + DAY] },
        [ordersKey]: { count: 1, times: [] },
      },
      subscriptions: { email: false, push: true },
    });
  });
});
