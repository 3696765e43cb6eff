import { newProfile } from '@herald/projections';
import { decodePersonRecord, encodePersonRecord } from './person-record-codec';
import type { PersonRecord } from './segment-state';

const T = Date.parse('2026-01-01T00:00:00Z');

function roundTrip(person: string, record: PersonRecord): PersonRecord {
  return decodePersonRecord(person, encodePersonRecord(person, record), record.nextCheckAt ?? null);
}

it('gives back a full record: traits, groups, subscriptions, seen times, counters, members, caps, next check', () => {
  const record: PersonRecord = {
    profile: {
      userId: 'user:u1',
      traits: { plan: 'pro', email: 'a@example.com', nested: { deep: [1, 2] } },
      groups: { acme: { seats: 3 } },
      firstSeen: T,
      lastSeen: T + 86_400_000,
      counters: {
        'ctr:0123456789abcdef': { count: 3, times: [T, T + 1, T + 86_400_000] },
        'ctr:fedcba9876543210': { count: 7, times: [] },
        // A key not made by counterKey is kept whole; an occurrence before first seen survives.
        'other-key': { count: 1, times: [T - 5] },
      },
      subscriptions: { email: false, sms: true },
    },
    members: ['engaged-shoppers', 'paying-customers'],
    nextCheckAt: T + 7 * 86_400_000,
    caps: { sent: [{ channel: 'email', at: T + 10, transactional: false }] },
  };
  expect(roundTrip('user:u1', record)).toEqual(record);
});

it('gives back an empty record as the projection made it, and keeps a profile key that is not the row key', () => {
  const empty: PersonRecord = { profile: newProfile('anon:a1', T), members: [] };
  expect(roundTrip('anon:a1', empty)).toEqual(empty);
  const other: PersonRecord = { profile: newProfile('user:u2', T), members: [], caps: { sent: [] } };
  expect(roundTrip('user:u9', other)).toEqual(other);
  expect(roundTrip('user:u9', other).profile.userId).toBe('user:u2');
});

it('keeps a __proto__ counter or trait as an own entry', () => {
  const profile = { ...newProfile('user:u1', T), traits: JSON.parse('{"__proto__":{"x":1}}') as Record<string, unknown> };
  Object.defineProperty(profile.counters, '__proto__', { value: { count: 1, times: [T] }, enumerable: true, writable: true, configurable: true });
  const back = roundTrip('user:u1', { profile, members: [] });
  expect(Object.hasOwn(back.profile.counters, '__proto__')).toBe(true);
  expect(Object.getPrototypeOf(back.profile.counters)).toBe(Object.prototype);
  expect(Object.hasOwn(back.profile.traits, '__proto__')).toBe(true);
});

it('stores less than the record as JSON: nothing empty or implied by the row', () => {
  const record: PersonRecord = {
    profile: {
      ...newProfile('user:u123456', T),
      traits: { email: 'user123456@example.com', name: 'User 123456', plan: 'pro' },
      lastSeen: T + 3_600_000,
      counters: { 'ctr:0123456789abcdef': { count: 2, times: [T, T + 3_600_000] } },
    },
    members: ['paying-customers'],
    nextCheckAt: T + 86_400_000,
  };
  const encoded = encodePersonRecord('user:u123456', record);
  expect(encoded).toBe(
    '{"f":1767225600000,"t":{"email":"user123456@example.com","name":"User 123456","plan":"pro"},"l":3600000,"c":{"0123456789abcdef":[2,0,3600000]},"m":["paying-customers"]}',
  );
  expect(encoded.length).toBeLessThan(0.6 * JSON.stringify(record).length);
});

it('reads a record stored whole, as before the compact form', () => {
  const record: PersonRecord = { profile: newProfile('user:u1', T), members: ['s'], nextCheckAt: T + 1 };
  expect(decodePersonRecord('user:u1', JSON.stringify(record), T + 1)).toEqual(record);
});
