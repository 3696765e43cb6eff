/**
 * Differential test of segment membership: random histories go through the real server (HTTP
 * ingestion, the live projection with its durable timers, a test clock over five weeks), then
 * four answers must agree for every person and many moments:
 * - the live projection's membership, read while the history streams in;
 * - a rebuild of the projection from the log;
 * - the point-in-time answer, `GET /api/users/:id/segments?at=T`;
 * - a reference evaluator (segment-reference.fixture.ts) over the raw history sent.
 * Seeded, so a failure replays.
 */
import { userStream } from '@herald/projections';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVENT_STORE, type EventStore } from '../event-store/event-store.port';
import { identityProjection } from '../identity/identity.projection';
import { ProjectionRunner } from '../projection-runner/projection-runner';
import { TestClock } from '../shared/clock';
import { uuidv7 } from '../shared/ids';
import { openStateDb } from '../state/state-db';
import { adminGet, adminSend, post, passTimersTo, settleProjections, startTestApp, type TestApp } from '../test-support/herald-test-app';
import { type RefDefinition, type RefHistory, refMembership, refWallText, refZone } from './segment-reference.fixture';
import { SegmentQueries } from './segment-queries';
import { SegmentTimers } from './segment-timers';
import { SegmentsProjection } from './segments.projection';
import { seededRandom } from '../test-support/seeded-random';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const START = Date.parse('2026-03-01T10:00:00Z');


const def = (id: string, where: Record<string, unknown>): RefDefinition => ({ id, name: id, where });

/** Every condition kind of docs/segments.md, nested, with windows, dates and references. */
const INITIAL: RefDefinition[] = [
  def('pro', { trait: 'plan', op: 'eq', value: 'pro' }),
  def('not-free', { trait: 'plan', op: 'neq', value: 'free' }),
  def('big-spender', { performed: 'Order Completed', where: [{ property: 'total', op: 'gte', value: 100 }], count: { gte: 2 } }),
  def('engaged', { performed: 'Product Viewed', where: [{ property: 'category', op: 'in', value: ['shoes', 'hats'] }], count: { gte: 3 }, within: '7d' }),
  def('inactive', { not: { performed: 'Logged In', within: '5d' } }),
  def('lapsed', { all: [{ performed: 'Logged In' }, { not: { performed: 'Logged In', within: '3d' } }] }),
  def('trial-ending', { all: [{ trait: 'trialEndsAt', op: 'lte', value: { in: '3d' } }, { trait: 'trialEndsAt', op: 'gt', value: { ago: '1d' } }] }),
  def('veterans', { trait: 'createdAt', op: 'lt', value: { ago: '20d' } }),
  def('pricing-once', { performed: 'Page Viewed', where: [{ property: 'path', op: 'eq', value: '/pricing' }], count: { eq: 1 }, within: '2d' }),
  def('few-orders', { performed: 'Order Completed', count: { lte: 1 }, within: '10d' }),
  def('pro-engaged', { all: [{ segment: 'pro' }, { segment: 'engaged' }, { subscribed: 'email' }] }),
  def('notable', { any: [{ trait: 'address.city', op: 'eq', value: 'Paris' }, { trait: 'tags', op: 'contains', value: 'vip' }, { trait: 'age', op: 'gte', value: 40 }] }),
  def('reachable-non-pro', { all: [{ not: { segment: 'pro' } }, { subscribed: 'email' }, { trait: 'plan', op: 'exists' }] }),
  def('due-soon', { performed: 'Order Completed', where: [{ property: 'dueDate', op: 'lt', value: { in: '2d' } }], within: '14d' }),
  def('late-trial', { any: [{ trait: 'trialEndsAt', op: 'gte', value: '2026-03-20T09:00' }, { trait: 'createdAt', op: 'eq', value: '2026-03-05' }] }),
  def('home-twice', { performed: 'Page Viewed', where: [{ property: 'name', op: 'eq', value: 'Home' }], count: { gte: 2 }, within: '36h' }),
];

/** Changes of the definitions during the run, at a day: new (a longer window on a counter), changed, deleted. */
const CHANGES: Array<{ day: number; define?: RefDefinition; delete?: string }> = [
  { day: 12, define: def('window-grew', { performed: 'Product Viewed', where: [{ property: 'category', op: 'in', value: ['shoes', 'hats'] }], count: { gte: 5 }, within: '14d' }) },
  { day: 20, define: def('pro', { trait: 'plan', op: 'in', value: ['pro', 'enterprise'] }) },
  { day: 26, delete: 'few-orders' },
];

const ZONES = ['Europe/Amsterdam', 'America/New_York', 'Asia/Kolkata', 'Pacific/Chatham', 'UTC', 'Not/AZone'];
const WORKSPACE_ZONE = 'Europe/Amsterdam';

/** One call as sent: to whom it went (the person key ingestion resolved), when it arrived, what it did. */
interface Sent {
  received: number;
  person: string;
  kind: 'identify' | 'event' | 'subscription';
  traits?: Record<string, unknown>;
  event?: { name: string; properties: Record<string, unknown>; at: number };
  subscription?: { channel: string; on: boolean };
}

let herald: TestApp;
let clock: TestClock;
beforeEach(async () => {
  clock = new TestClock(new Date(START));
  herald = await startTestApp({ clock });
});
afterEach(() => herald.destroy());

function settle(): Promise<void> {
  return settleProjections(herald);
}

/** Moves the clock to `to`, every segment timer due by then fired first (as a running clock would). */
function passTo(to: number): Promise<void> {
  return passTimersTo(herald, clock, new Date(to), [herald.app.get(SegmentTimers)]);
}

it.each([1, 2])('live membership, a rebuild, the point-in-time answer and a reference evaluator agree (seed %i)', async (seed) => {
  const next = seededRandom(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)];
  const users = Array.from({ length: 12 }, (_, i) => `u${i}`);
  const visitors = Array.from({ length: 8 }, (_, i) => `a${i}`);
  const ownerOf = (visitor: string) => users[Number(visitor.slice(1)) % users.length];
  /** anonymous id -> when its link to its owner arrived. */
  const linkedAt = new Map<string, number>();
  const sent: Sent[] = [];
  /** Definitions in force from a moment on. */
  const timeline: Array<{ from: number; definitions: RefDefinition[] }> = [];
  const zoneTimeline: Array<{ from: number; zone: string }> = [];

  const define = async (definition: RefDefinition) => {
    const response = await adminSend('POST', `${herald.url}/api/segments`, definition);
    expect(response.status).toBeLessThan(300);
    const current = timeline.at(-1)?.definitions ?? [];
    timeline.push({ from: clock.now().getTime(), definitions: [...current.filter((d) => d.id !== definition.id), definition] });
  };
  const setZone = async (zone: string) => {
    expect((await adminSend('PUT', `${herald.url}/api/settings/messaging`, { timezone: zone })).status).toBeLessThan(300);
    zoneTimeline.push({ from: clock.now().getTime(), zone });
  };

  await setZone(WORKSPACE_ZONE);
  for (const definition of INITIAL) await define(definition);

  const iso = (ms: number) => new Date(ms).toISOString();
  /** A date trait: with an offset, a wall-clock date-time, or a bare date. */
  const dateText = (instant: number) => {
    const roll = next();
    if (roll < 0.35) return iso(instant);
    if (roll < 0.5) return `${refWallText(instant + 2 * HOUR, 'UTC')}:00+02:00`;
    // Wall-clock times clear of the DST gaps (02:00-03:00) in the zones used.
    if (roll < 0.85) return `${iso(instant).slice(0, 10)}T${pick(['09:30', '14:15', '23:45', '00:10'])}`;
    return iso(instant).slice(0, 10);
  };
  const traitsNow = (now: number): Record<string, unknown> => {
    const traits: Record<string, unknown> = {};
    if (next() < 0.5) traits.plan = pick(['free', 'pro', 'enterprise', null]);
    if (next() < 0.2) traits.age = next() < 0.8 ? 18 + Math.floor(next() * 50) : '45';
    if (next() < 0.2) traits.tags = ['vip', 'beta', 'early'].filter(() => next() < 0.4);
    if (next() < 0.2) traits.address = { city: pick(['Paris', 'Berlin', 'Tokyo']) };
    if (next() < 0.15) traits.timezone = pick(ZONES);
    if (next() < 0.35) traits.trialEndsAt = dateText(now + Math.floor((next() * 14 - 4) * DAY));
    if (next() < 0.2) traits.createdAt = next() < 0.1 ? '2026-03-05' : dateText(now - Math.floor(next() * 40 * DAY));
    return traits;
  };
  /** Where a call goes: its user, or the owner of a linked visitor, or the visitor. */
  const routed = (userId: string | undefined, anonymousId: string | undefined) =>
    userId !== undefined ? `user:${userId}` : linkedAt.has(anonymousId!) ? `user:${ownerOf(anonymousId!)}` : `anon:${anonymousId}`;
  /** The event time: on time, omitted, late by up to 3 days, or ahead of the clock by up to 2 hours. */
  const timestampFor = (now: number): { timestamp?: string; at: number } => {
    const roll = next();
    if (roll < 0.5) return { timestamp: iso(now), at: now };
    if (roll < 0.65) return { at: now };
    if (roll < 0.9) {
      const at = now - Math.floor(next() * 3 * DAY);
      return { timestamp: iso(at), at };
    }
    return { timestamp: iso(now + Math.floor(next() * 2 * HOUR)), at: now };
  };
  const existing = new Set<string>();
  const track = async (ids: { userId?: string; anonymousId?: string }, name: string, properties: Record<string, unknown>) => {
    const now = clock.now().getTime();
    const { timestamp, at } = timestampFor(now);
    const response = await post(`${herald.url}/v1/track`, { ...ids, event: name, properties, ...(timestamp ? { timestamp } : {}) });
    expect(response.status).toBe(200);
    sent.push({ received: now, person: routed(ids.userId, ids.anonymousId), kind: 'event', event: { name, properties, at } });
  };
  const page = async (ids: { userId?: string; anonymousId?: string }, name: string, properties: Record<string, unknown>) => {
    const now = clock.now().getTime();
    const { timestamp, at } = timestampFor(now);
    const response = await post(`${herald.url}/v1/page`, { ...ids, name, properties, ...(timestamp ? { timestamp } : {}) });
    expect(response.status).toBe(200);
    // A page call counts as Page Viewed, its name added to the properties unless they have one.
    sent.push({ received: now, person: routed(ids.userId, ids.anonymousId), kind: 'event', event: { name: 'Page Viewed', properties: { name, ...properties }, at } });
  };

  // ----- the reference -----
  const definitionsAt = (t: number) => [...timeline].reverse().find((entry) => entry.from <= t)?.definitions ?? [];
  const zoneAt = (t: number) => [...zoneTimeline].reverse().find((entry) => entry.from <= t)?.zone;
  /** The person's own history by `t`, with that of visitors linked to them by then. */
  const historyOf = (person: string, t: number): RefHistory | undefined => {
    const keys = new Set([person]);
    for (const [visitor, at] of linkedAt) if (at <= t && `user:${ownerOf(visitor)}` === person) keys.add(`anon:${visitor}`);
    const calls = sent.filter((call) => call.received <= t && keys.has(call.person));
    if (calls.length === 0) return undefined;
    const history: RefHistory = { traits: {}, subscriptions: {}, events: [] };
    for (const call of calls) {
      if (call.traits) for (const [key, value] of Object.entries(call.traits)) value === null ? delete history.traits[key] : (history.traits[key] = value);
      if (call.subscription) history.subscriptions[call.subscription.channel] = call.subscription.on;
      if (call.event) history.events.push(call.event);
    }
    return history;
  };
  const expectedOf = (person: string, t: number): string[] => {
    const history = historyOf(person, t);
    if (!history) return [];
    return [...refMembership(definitionsAt(t), history, t, refZone(history.traits, zoneAt(t)))].sort();
  };
  /** Point in time for a user: their own membership, and that of visitors not yet linked to them then. */
  const expectedAt = (id: string, t: number): string[] => {
    // A visitor linked since is answered as their user (the history is the user's).
    if (id.startsWith('a')) return linkedAt.has(id) ? expectedAt(ownerOf(id), t) : expectedOf(`anon:${id}`, t);
    const union = new Set(expectedOf(`user:${id}`, t));
    for (const [visitor, at] of linkedAt) if (ownerOf(visitor) === id && at > t) for (const s of expectedOf(`anon:${visitor}`, t)) union.add(s);
    return [...union].sort();
  };

  const mismatches: unknown[] = [];
  const people = () => [...users, ...visitors.filter((v) => !linkedAt.has(v))];
  /** Live: the membership the projection holds now, for every person it knows. */
  const checkLive = async (now: number) => {
    for (const id of people()) {
      const person = id.startsWith('a') ? `anon:${id}` : `user:${id}`;
      const response = await adminGet(`${herald.url}/api/users/${id}`);
      const live = response.status === 200 ? (response.body.segments as string[]) : [];
      const expected = expectedOf(person, now);
      if (JSON.stringify(live) !== JSON.stringify(expected)) mismatches.push({ what: 'live', id, at: iso(now), live, expected });
    }
  };

  const changes = [...CHANGES];
  const zoneChanges = [
    { day: 7, zone: 'Pacific/Kiritimati' },
    { day: 17, zone: 'America/New_York' },
    { day: 24, zone: 'Pacific/Kiritimati' },
  ];
  const checkpoints: number[] = [];
  const steps = 300;
  for (let step = 0; step < steps; step++) {
    const now = clock.now().getTime() + Math.floor(next() * 2 * (35 * DAY / steps));
    await passTo(now);
    if (changes.length > 0 && now >= START + changes[0].day * DAY) {
      const change = changes.shift()!;
      if (change.define) await define(change.define);
      else {
        expect((await adminSend('DELETE', `${herald.url}/api/segments/${change.delete}`)).status).toBeLessThan(300);
        timeline.push({ from: now, definitions: timeline.at(-1)!.definitions.filter((d) => d.id !== change.delete) });
      }
      continue;
    }
    if (zoneChanges.length > 0 && now >= START + zoneChanges[0].day * DAY) {
      // Wall-clock dates of users without a timezone trait move by half a day.
      await setZone(zoneChanges.shift()!.zone);
      continue;
    }
    if (step % 50 === 49) {
      checkpoints.push(now);
      await checkLive(now);
    }
    const user = pick(users);
    const roll = next();
    if (roll < 0.2) await track({ userId: user }, 'Product Viewed', { category: pick(['shoes', 'hats', 'bags']) });
    else if (roll < 0.3) {
      const total = next() < 0.85 ? Math.floor(next() * 200) : '150';
      const due = now + Math.floor((next() * 8 - 4) * DAY);
      await track({ userId: user }, 'Order Completed', { total, dueDate: next() < 0.7 ? iso(due) : `${refWallText(due + 2 * HOUR, 'UTC')}:00+02:00` });
    } else if (roll < 0.42) await track({ userId: user }, 'Logged In', {});
    else if (roll < 0.52) await page({ userId: user }, pick(['Pricing', 'Home']), next() < 0.2 ? { name: 'Other', path: '/pricing' } : { path: pick(['/pricing', '/home']) });
    else if (roll < 0.66) {
      const traits = traitsNow(now);
      expect((await post(`${herald.url}/v1/identify`, { userId: user, traits })).status).toBe(200);
      sent.push({ received: now, person: `user:${user}`, kind: 'identify', traits });
    } else if (roll < 0.71) {
      if (!existing.has(`user:${user}`)) continue;
      // Consent changes come from the channels (an unsubscribe link); appended as they would be.
      const on = next() < 0.4;
      await herald.app.get<EventStore>(EVENT_STORE).append(userStream('default', user), [
        { id: uuidv7(), type: on ? 'Subscribed' : 'Unsubscribed', data: { channel: 'email' }, metadata: { workspace: 'default', occurredAt: iso(now), receivedAt: iso(now), schemaVersion: 1 } },
      ]);
      sent.push({ received: now, person: `user:${user}`, kind: 'subscription', subscription: { channel: 'email', on } });
    } else if (roll < 0.9) {
      const visitor = pick(visitors);
      if (next() < 0.6) await track({ anonymousId: visitor }, 'Product Viewed', { category: pick(['shoes', 'hats']) });
      else await page({ anonymousId: visitor }, 'Home', { path: '/home' });
    } else {
      const visitor = pick(visitors);
      if (linkedAt.has(visitor)) continue;
      const owner = ownerOf(visitor);
      expect((await post(`${herald.url}/v1/identify`, { userId: owner, anonymousId: visitor, traits: {} })).status).toBe(200);
      linkedAt.set(visitor, now);
      sent.push({ received: now, person: `user:${owner}`, kind: 'identify', traits: {} });
    }
    existing.add(sent.at(-1)!.person);
  }
  const end = clock.now().getTime() + 2 * DAY;
  await passTo(end);
  checkpoints.push(end);

  await checkLive(end);

  // Rebuild: the projection dropped and rebuilt from the log holds the same membership.
  const dir = mkdtempSync(join(tmpdir(), 'herald-diff-'));
  try {
    const rebuilt = openStateDb(join(dir, 'rebuilt.sqlite'));
    const store = herald.app.get<EventStore>(EVENT_STORE);
    await new ProjectionRunner(store, rebuilt).rebuildAll([identityProjection, new SegmentsProjection(rebuilt, store, false)]);
    const queries = new SegmentQueries(rebuilt);
    for (const id of people()) {
      const person = id.startsWith('a') ? `anon:${id}` : `user:${id}`;
      const members = queries.record('default', person)?.members ?? [];
      const expected = expectedOf(person, end);
      if (JSON.stringify(members) !== JSON.stringify(expected)) mismatches.push({ what: 'rebuilt', id, members, expected });
    }
    rebuilt.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // Point in time: random moments, each moment a decision was made and the millisecond before it.
  const store = herald.app.get<EventStore>(EVENT_STORE);
  const decisions = (await store.readAll({ filter: { eventTypes: ['SegmentEntered', 'SegmentExited'] } })).map((e) => Date.parse(e.metadata.occurredAt));
  const moments = [...checkpoints, ...Array.from({ length: 30 }, () => START + Math.floor(next() * (end - START)))];
  for (let i = 0; i < 40; i++) {
    const moment = pick(decisions);
    moments.push(moment, moment - 1);
  }
  const seen = new Set<string>();
  for (const moment of moments) {
    // A moment's questions in parallel, as a dashboard would ask them.
    const ids = [...users, ...visitors].filter(() => next() < 0.3);
    const answers = await Promise.all(ids.map((id) => adminGet(`${herald.url}/api/users/${id}/segments?at=${iso(moment)}`)));
    ids.forEach((id, i) => {
      const answered = answers[i].status === 200 ? (answers[i].body.segments as Array<{ segmentId: string }>).map((s) => s.segmentId) : [];
      const expected = expectedAt(id, moment);
      for (const segment of expected) seen.add(segment);
      if (JSON.stringify(answered) !== JSON.stringify(expected)) mismatches.push({ what: 'at', id, at: iso(moment), answered, expected });
    });
  }
  // The history exercised what it should: every segment had members at some moment asked about.
  expect(decisions.length).toBeGreaterThan(100);
  expect([...seen].sort()).toEqual([...new Set([...INITIAL, ...CHANGES.flatMap((c) => (c.define ? [c.define] : []))].map((d) => d.id))].sort());
  const byKind = mismatches.reduce<Record<string, number>>((n, m) => ({ ...n, [(m as { what: string }).what]: (n[(m as { what: string }).what] ?? 0) + 1 }), {});
  expect({ byKind, first: mismatches.slice(0, 8) }).toEqual({ byKind: {}, first: [] });
}, 120_000);
