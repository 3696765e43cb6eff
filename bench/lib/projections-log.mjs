// Generated event histories for the projection benchmarks (bench/rebuild.mjs, bench/segments.mjs):
// events shaped exactly as ingestion writes them (see ingest-tracking-call.handler.ts and
// docs/events.md), segment definitions published through the segment catalogue, and a writer that
// appends in large group-committed batches (setup, never measured).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, requireDist, serverRequire } from './common.mjs';

export const WORKSPACE = 'default';
export const SECOND = 1000;
export const DAY = 86_400_000;

const { derivedEventId } = requireDist('shared/ids.js');
const { userStream, anonymousStream } = serverRequire('@herald/projections');

/** sfc32: a small seeded generator, so every run generates the same history. */
export function random(seed) {
  let a = seed | 0;
  let b = 0x9e3779b9;
  let c = 0x243f6a88;
  let d = 0xb7e15162;
  const next = () => {
    a |= 0;
    b |= 0;
    c |= 0;
    d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

const pick = (rand, list) => list[Math.floor(rand() * list.length)];

// --- Segment definitions ---------------------------------------------------------------------

/** A definition from examples/segments/, parsed from the YAML file as a user would publish it. */
export function exampleSegment(id) {
  const YAML = serverRequire('yaml');
  return YAML.parse(readFileSync(join(ROOT, 'examples', 'segments', `${id}.yaml`), 'utf8'));
}

/** A trait-only segment: what plan people are on, or how much they have spent. */
export const PAYING_CUSTOMERS = {
  id: 'paying-customers',
  name: 'Paying customers',
  where: {
    all: [
      { trait: 'email', op: 'exists' },
      {
        any: [
          { trait: 'plan', op: 'in', value: ['pro', 'enterprise'] },
          { trait: 'lifetimeValue', op: 'gte', value: 500 },
        ],
      },
    ],
  },
};

/** engaged-shoppers (event counts in a window + a trait + not-within), inactive-14d (inactivity), paying-customers (traits). */
export function standardSegments() {
  return [exampleSegment('engaged-shoppers'), exampleSegment('inactive-14d'), PAYING_CUSTOMERS];
}

/** Publishes definitions through the catalogue (SegmentDefined on `segments-default`), dated `at`. */
export async function defineSegments(store, definitions, at) {
  const { SegmentCatalog } = requireDist('segments/segment-catalog.js');
  const { TestClock } = requireDist('shared/clock.js');
  const catalog = new SegmentCatalog(store, new TestClock(new Date(at)));
  for (const definition of definitions) await catalog.define(WORKSPACE, definition);
}

// --- Events as ingestion writes them ----------------------------------------------------------

const CONTEXTS = [
  {
    library: { name: 'analytics.js', version: '5.2.1' },
    locale: 'nl-NL',
    userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  },
  {
    library: { name: 'analytics-ios', version: '4.1.8' },
    app: { name: 'Shop', version: '3.12.0', build: '3120' },
    device: { manufacturer: 'Apple', model: 'iPhone15,2', type: 'ios' },
    os: { name: 'iOS', version: '17.4.1' },
    locale: 'en-GB',
  },
  {
    library: { name: 'analytics-android', version: '4.11.3' },
    app: { name: 'Shop', version: '3.12.0', build: '3120' },
    device: { manufacturer: 'Google', model: 'Pixel 8', type: 'android' },
    os: { name: 'Android', version: '14' },
    locale: 'de-DE',
  },
];
const CATEGORIES = ['shoes', 'shoes', 'shirts', 'trousers', 'bags', 'hats', 'socks'];
const PAGES = [
  ['Home', 'Landing', '/'],
  ['Pricing', 'Marketing', '/pricing'],
  ['Shoes', 'Catalog', '/c/shoes'],
  ['Bags', 'Catalog', '/c/bags'],
  ['Cart', 'Checkout', '/cart'],
  ['Blog post', 'Content', '/blog/spring-collection'],
];
const PLANS = ['free', 'free', 'free', 'free', 'pro', 'pro', 'pro', 'enterprise'];
const TIMEZONES = ['Europe/Amsterdam', 'Europe/Berlin', 'Europe/London', 'America/New_York', 'Asia/Tokyo'];
const COUNTRIES = ['NL', 'DE', 'GB', 'US', 'JP'];

const idRandom = random(99);
let lastIdMillis = 0;
let idSequence = 0;
const hex = (n, digits) => n.toString(16).padStart(digits, '0');
/**
 * A UUIDv7 of the event's (simulated) receive time, as the server's uuidv7 lays it out (12-bit
 * sequence in rand_a), with the random bits from a seeded generator: crypto randomness is most of
 * the cost of generating a million events, and this is setup.
 */
function eventId(millis) {
  if (millis <= lastIdMillis) {
    millis = lastIdMillis;
    idSequence = (idSequence + 1) & 0xfff;
    if (idSequence === 0) millis = ++lastIdMillis;
  } else {
    lastIdMillis = millis;
    idSequence = 0;
  }
  const time = hex(millis, 12);
  const r1 = Math.floor(idRandom() * 0x4000) | 0x8000;
  const r2 = hex(Math.floor(idRandom() * 0x1000000), 6) + hex(Math.floor(idRandom() * 0x1000000), 6);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${hex(idSequence, 3)}-${hex(r1, 4)}-${r2}`;
}

/** The envelope ingestion builds around a message (toEvent). */
function tracking(type, message) {
  const id = eventId(Date.parse(message.receivedAt));
  return {
    id,
    type,
    data: message,
    metadata: { workspace: WORKSPACE, correlationId: id, occurredAt: message.timestamp, receivedAt: message.receivedAt, schemaVersion: 1 },
  };
}

/** The identity link ingestion appends before an identify that carries an anonymousId (linkEvent). */
function linked(cause, key, userId) {
  return {
    id: derivedEventId(cause.id, 'identity', key),
    type: 'IdentityLinked',
    data: { key, userId },
    metadata: {
      workspace: WORKSPACE,
      causationId: cause.id,
      correlationId: cause.id,
      occurredAt: cause.metadata.occurredAt,
      receivedAt: cause.metadata.receivedAt,
      schemaVersion: 1,
    },
  };
}

let messageSequence = 0;
function base(type, who, at, context) {
  const iso = new Date(at).toISOString();
  return {
    type,
    messageId: `bench-${process.pid}-${++messageSequence}`,
    ...who,
    context,
    integrations: {},
    timestamp: iso,
    receivedAt: new Date(at + 250).toISOString(),
  };
}

export function trackEvent(who, event, properties, at, context = CONTEXTS[0]) {
  return tracking('Tracked', { ...base('track', who, at, context), event, properties });
}

export function pageEvent(who, [name, category, path], at, context = CONTEXTS[0]) {
  return tracking('PageViewed', {
    ...base('page', who, at, context),
    name,
    category,
    properties: { path, url: `https://shop.example.com${path}`, title: `${name} | Shop`, referrer: 'https://www.google.com/' },
  });
}

export function identifyEvent(who, traits, at, context = CONTEXTS[0]) {
  return tracking('Identified', { ...base('identify', who, at, context), traits });
}

export function traitsFor(rand, user) {
  return {
    email: `user${user}@example.com`,
    name: `User ${user}`,
    plan: pick(rand, PLANS),
    country: pick(rand, COUNTRIES),
    timezone: pick(rand, TIMEZONES),
    lifetimeValue: Math.floor(rand() * 800),
    createdAt: '2025-11-02T10:00:00.000Z',
  };
}

export function productViewed(rand, who, at, context, category = pick(rand, CATEGORIES)) {
  return trackEvent(
    who,
    'Product Viewed',
    { product_id: `p-${Math.floor(rand() * 5000)}`, sku: `SKU-${Math.floor(rand() * 90000) + 10000}`, category, name: `A ${category} item`, price: 19.95 + Math.floor(rand() * 200), currency: 'EUR' },
    at,
    context,
  );
}

export function orderCompleted(rand, who, at, context) {
  const products = [];
  const n = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < n; i++) products.push({ product_id: `p-${Math.floor(rand() * 5000)}`, category: pick(rand, CATEGORIES), price: 29.95, quantity: 1 });
  return trackEvent(who, 'Order Completed', { order_id: `o-${Math.floor(rand() * 1e9)}`, total: 29.95 * n, revenue: 25 * n, currency: 'EUR', products }, at, context);
}

/**
 * A realistic history: `users` people over `spanMs` from `start`. About a third arrive anonymous
 * (1 to 3 page or product views on an `anon-` stream), then identify, which links the anonymous
 * id (IdentityLinked) and merges the profiles; the others identify first. After that: product
 * views (2/7 of them shoes), page views, app opens, add-to-carts, orders, and trait updates.
 * Activity is skewed: half of the picks favour a minority of heavy users.
 */
export class HistoryGenerator {
  /** `now`, when given, dates each call (live load); otherwise calls are spread evenly over the span. */
  constructor({ users, seed = 1, start, spanMs, totalEvents, now }) {
    this.users = users;
    this.now = now;
    this.rand = random(seed);
    this.start = start;
    this.spanMs = spanMs;
    this.totalEvents = totalEvents;
    this.emitted = 0;
    /** Per user: undefined = not seen yet; >0 anonymous calls left before identifying; 0 identified. */
    this.anonLeft = new Int8Array(users).fill(-1);
    this.context = new Uint8Array(users);
  }

  pickUser() {
    const r = this.rand();
    return Math.floor(this.users * (this.rand() < 0.5 ? r : r * r));
  }

  /** The next tracking call: `{ stream, events }` (one call's events, appended together). */
  next() {
    const rand = this.rand;
    const user = this.pickUser();
    const at = this.now ? this.now() : this.start + Math.floor((this.spanMs * this.emitted) / this.totalEvents);
    const userId = `u${user}`;
    const anonymousId = `a-${user}-7f3c`;
    let call;
    if (this.anonLeft[user] === -1) {
      this.context[user] = Math.floor(rand() * CONTEXTS.length);
      if (rand() < 0.35) this.anonLeft[user] = 1 + Math.floor(rand() * 3);
      else {
        this.anonLeft[user] = 0;
        call = { stream: userStream(WORKSPACE, userId), events: [identifyEvent({ userId }, traitsFor(rand, user), at, CONTEXTS[this.context[user]])] };
      }
    }
    const context = CONTEXTS[this.context[user]];
    if (!call && this.anonLeft[user] > 0) {
      this.anonLeft[user] -= 1;
      const who = { anonymousId };
      const event = rand() < 0.5 ? pageEvent(who, pick(rand, PAGES), at, context) : productViewed(rand, who, at, context);
      call = { stream: anonymousStream(WORKSPACE, anonymousId), events: [event] };
      if (this.anonLeft[user] === 0) this.anonLeft[user] = -2; // identify on the next call
    } else if (!call && this.anonLeft[user] === -2) {
      this.anonLeft[user] = 0;
      const identified = identifyEvent({ userId, anonymousId }, traitsFor(rand, user), at, context);
      call = { stream: userStream(WORKSPACE, userId), events: [linked(identified, `anon:${anonymousId}`, userId), identified] };
    } else if (!call) {
      const who = { userId };
      const r = rand();
      let event;
      if (r < 0.38) event = productViewed(rand, who, at, context);
      else if (r < 0.66) event = pageEvent(who, pick(rand, PAGES), at, context);
      else if (r < 0.8) event = trackEvent(who, 'Application Opened', { from_background: rand() < 0.5, build: '3120' }, at, context);
      else if (r < 0.9) event = trackEvent(who, 'Product Added', { product_id: `p-${Math.floor(rand() * 5000)}`, quantity: 1, price: 49.95 }, at, context);
      else if (r < 0.97) event = orderCompleted(rand, who, at, context);
      else event = identifyEvent(who, { lifetimeValue: Math.floor(rand() * 1200), plan: pick(rand, PLANS) }, at, context);
      call = { stream: userStream(WORKSPACE, userId), events: [event] };
    }
    this.emitted += call.events.length;
    return call;
  }
}

/**
 * Appends `total` events from `nextCall()` in windows of `window` events: the window's calls are
 * grouped by stream (keeping each stream's order) and appended concurrently, which the adapter
 * group-commits into one transaction. Returns the number of events written.
 */
export async function writeCalls(store, total, nextCall, { window = 10_000, onProgress } = {}) {
  let written = 0;
  while (written < total) {
    const byStream = new Map();
    let n = 0;
    while (n < window && written + n < total) {
      const { stream, events } = nextCall();
      const list = byStream.get(stream);
      if (list) list.push(...events);
      else byStream.set(stream, [...events]);
      n += events.length;
    }
    await Promise.all([...byStream].map(([stream, events]) => store.append(stream, events)));
    written += n;
    onProgress?.(written, total);
  }
  return written;
}

/** Opens the adapter on `path`, with large group commits for fast setup. */
export function openStore(path, options = {}) {
  const { SqliteEventStore } = requireDist('event-store/sqlite/sqlite-event-store.js');
  return new SqliteEventStore({ path, maxBatchEvents: 50_000, ...options });
}
