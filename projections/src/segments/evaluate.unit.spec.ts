import type { DomainEvent } from '../events';
import { evolveProfile, mergeProfiles, newProfile, occurrenceTime, type Profile } from '../profiles/profile';
import { counterSpecsFor } from './counter-specs';
import { dependencyOrder, diffMembership, evaluateCondition, evaluateSegments, nextChangeAt, type EvaluationContext } from './evaluate';
import { parseSegmentDefinition, validateSegmentGraph, type Condition, type SegmentDefinition } from './segment-definition';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-03-02T00:00:00Z');
const day = (n: number, hours = 0) => T0 + n * DAY + hours * HOUR;

let seq = 0;
function event(type: string, data: Record<string, unknown>, at: number): DomainEvent {
  const iso = new Date(at).toISOString();
  return { id: `e${++seq}`, type, data, metadata: { workspace: 'default', occurredAt: iso, receivedAt: iso, schemaVersion: 1 } };
}
const track = (name: string, properties: Record<string, unknown>, at: number) => event('Tracked', { event: name, properties }, at);
const identify = (traits: Record<string, unknown>, at: number) => event('Identified', { traits }, at);

function define(input: unknown): SegmentDefinition {
  const result = parseSegmentDefinition(input);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.definition;
}

/** The engaged-shoppers example, exactly as the YAML in the issue parses. */
const engagedShoppers = define({
  id: 'engaged-shoppers',
  name: 'Engaged shoppers',
  where: {
    all: [
      { trait: 'plan', op: 'eq', value: 'pro' },
      { performed: 'Product Viewed', where: [{ property: 'category', op: 'eq', value: 'shoes' }], count: { gte: 3 }, within: '7d' },
      { not: { performed: 'Order Completed', within: '30d' } },
    ],
  },
});

interface Change {
  at: number;
  entered: string[];
  exited: string[];
  cause: string;
}

/**
 * What the projection runner does, with no clock: apply each event, re-evaluate, and fire the
 * timer `nextCheckAt` asks for whenever it falls before the next event (or before `until`).
 */
function simulate(definitions: SegmentDefinition[], events: DomainEvent[], until: number, timezone?: string) {
  expect(validateSegmentGraph(definitions)).toEqual([]);
  const specs = counterSpecsFor(definitions);
  let profile: Profile = newProfile('u1', occurrenceTime(events[0])!);
  let members = new Set<string>();
  let timer: number | undefined;
  let timersFired = 0;
  const changes: Change[] = [];
  const check = (at: number, cause: string) => {
    const result = evaluateSegments(definitions, profile, at, { timezone });
    // Membership alone (what a rebuild asks per event) is the same membership, without a next check.
    expect(evaluateSegments(definitions, profile, at, { timezone, nextCheck: false })).toEqual({ members: result.members });
    const { entered, exited } = diffMembership(members, result.members);
    if (entered.length > 0 || exited.length > 0) changes.push({ at, entered, exited, cause });
    members = result.members;
    if (result.nextCheckAt !== undefined) expect(result.nextCheckAt).toBeGreaterThan(at);
    timer = result.nextCheckAt;
  };
  const fireTimersUntil = (limit: number) => {
    while (timer !== undefined && timer <= limit) {
      timersFired++;
      check(timer, 'timer');
    }
  };
  for (const e of events) {
    const at = occurrenceTime(e)!;
    fireTimersUntil(at);
    profile = evolveProfile(profile, e, specs, at);
    check(at, e.id);
  }
  fireTimersUntil(until);
  return { changes, profile, members, timersFired, pendingTimer: timer };
}

const views = (days: number[], category = 'shoes', hours = 10) => days.map((d) => track('Product Viewed', { category }, day(d, hours)));

describe('engaged shoppers over 30 simulated days', () => {
  it('enters on the third shoes view with plan pro and exits exactly when the first view leaves the 7-day window', () => {
    const events = [
      identify({ plan: 'pro' }, day(0)),
      ...views([0], 'hats', 9),
      track('Product Viewed', { category: 'shoes' }, day(0, 1)),
      ...views([1, 2]),
    ];
    const third = events[events.length - 1].id;
    const run = simulate([engagedShoppers], events, day(30));
    expect(run.changes).toEqual([
      { at: day(2, 10), entered: ['engaged-shoppers'], exited: [], cause: third },
      { at: day(7, 1), entered: [], exited: ['engaged-shoppers'], cause: 'timer' },
    ]);
    // The one timer is exact: a member one millisecond before, not at the moment.
    expect(run.timersFired).toBe(1);
    expect(evaluateSegments([engagedShoppers], run.profile, day(7, 1) - 1).members.has('engaged-shoppers')).toBe(true);
    expect(run.pendingTimer).toBeUndefined();
  });

  it('needs plan pro: a later identify brings the user in', () => {
    const events = [identify({ plan: 'free' }, day(0)), ...views([0, 1, 2]), identify({ plan: 'pro' }, day(3))];
    expect(simulate([engagedShoppers], events, day(30)).changes).toEqual([
      { at: day(3), entered: ['engaged-shoppers'], exited: [], cause: events[4].id },
      { at: day(7, 10), entered: [], exited: ['engaged-shoppers'], cause: 'timer' },
    ]);
  });

  it('exits when an order arrives and re-enters 30 days after it, then exits when views thin out', () => {
    const daily = Array.from({ length: 46 }, (_, d) => d);
    const order = track('Order Completed', { total: 120 }, day(10, 12));
    const events = [identify({ plan: 'pro' }, day(0)), ...views(daily)];
    events.splice(events.findIndex((e) => occurrenceTime(e)! > day(10, 12)), 0, order);
    const run = simulate([engagedShoppers], events, day(60));
    expect(run.changes).toEqual([
      { at: day(2, 10), entered: ['engaged-shoppers'], exited: [], cause: events[3].id },
      { at: day(10, 12), entered: [], exited: ['engaged-shoppers'], cause: order.id },
      { at: day(40, 12), entered: ['engaged-shoppers'], exited: [], cause: 'timer' },
      // Last views on days 43, 44, 45: the count drops to 2 when day 43's leaves the window.
      { at: day(50, 10), entered: [], exited: ['engaged-shoppers'], cause: 'timer' },
    ]);
  });
});

describe('identity merges', () => {
  it('counts an anonymous visitor\'s views once the visitor is linked to the user', () => {
    const specs = counterSpecsFor([engagedShoppers]);
    const anonymous = views([0, 1, 2]).reduce((p, e) => evolveProfile(p, e, specs, occurrenceTime(e)!), newProfile('anon:a1', day(0)));
    const user = evolveProfile(newProfile('u1', day(3)), identify({ plan: 'pro' }, day(3)), specs, day(3));
    expect(evaluateSegments([engagedShoppers], user, day(3)).members.size).toBe(0);
    const merged = mergeProfiles(user, anonymous, specs);
    expect(evaluateSegments([engagedShoppers], merged, day(3))).toEqual({ members: new Set(['engaged-shoppers']), nextCheckAt: day(7, 10) });
  });
});

describe('windows', () => {
  const once = define({ id: 'recent', name: 'Recent', where: { performed: 'Logged In', within: '1h' } });

  it('counts an occurrence at t from t up to, not including, t + within', () => {
    const t = day(1);
    const profile = simulate([once], [track('Logged In', {}, t)], t).profile;
    const member = (now: number) => evaluateSegments([once], profile, now).members.has('recent');
    expect(member(t)).toBe(true);
    expect(member(t + HOUR - 1)).toBe(true);
    expect(member(t + HOUR)).toBe(false);
    expect(evaluateSegments([once], profile, t).nextCheckAt).toBe(t + HOUR);
  });

  it('sees occurrences later than the evaluation moment enter at their time', () => {
    const t = day(1);
    const profile = simulate([once], [track('Logged In', {}, t)], t).profile;
    expect(evaluateSegments([once], profile, t - 5000)).toEqual({ members: new Set(), nextCheckAt: t });
  });

  it('supports count eq and lte, including zero', () => {
    const none = define({ id: 'none', name: 'None', where: { performed: 'Logged In', count: { eq: 0 }, within: '7d' } });
    const few = define({ id: 'few', name: 'Few', where: { performed: 'Logged In', count: { lte: 1 }, within: '7d' } });
    const events = [identify({}, day(0)), track('Logged In', {}, day(1)), track('Logged In', {}, day(2))];
    expect(simulate([none, few], events, day(20)).changes).toEqual([
      { at: day(0), entered: ['few', 'none'], exited: [], cause: events[0].id },
      { at: day(1), entered: [], exited: ['none'], cause: events[1].id },
      { at: day(2), entered: [], exited: ['few'], cause: events[2].id },
      { at: day(8), entered: ['few'], exited: [], cause: 'timer' },
      { at: day(9), entered: ['none'], exited: [], cause: 'timer' },
    ]);
  });
});

describe('inactivity and segments of segments', () => {
  const inactive = define({
    id: 'inactive',
    name: 'No login for 14 days',
    where: { all: [{ performed: 'Signed Up' }, { not: { performed: 'Logged In', within: '14d' } }] },
  });
  const inactivePro = define({ id: 'inactive-pro', name: 'Inactive pro', where: { all: [{ segment: 'inactive' }, { trait: 'plan', op: 'eq', value: 'pro' }] } });
  const activeFree = define({ id: 'active-free', name: 'Active free', where: { all: [{ not: { segment: 'inactive' } }, { trait: 'plan', op: 'neq', value: 'pro' }] } });

  it('enters 14 days after the last login, leaves on the next, and dependent segments follow at the same moment', () => {
    const events = [
      identify({ plan: 'pro' }, day(0)),
      track('Logged In', {}, day(0, 1)),
      track('Signed Up', {}, day(0, 1)),
      track('Logged In', {}, day(5)),
      track('Logged In', {}, day(30)),
      identify({ plan: 'free' }, day(50)),
      track('Logged In', {}, day(52)),
    ];
    // Dependent segments first: evaluation order must not depend on the order given.
    const run = simulate([activeFree, inactivePro, inactive], events, day(60));
    expect(run.changes).toEqual([
      { at: day(19), entered: ['inactive', 'inactive-pro'], exited: [], cause: 'timer' },
      { at: day(30), entered: [], exited: ['inactive', 'inactive-pro'], cause: events[4].id },
      { at: day(44), entered: ['inactive', 'inactive-pro'], exited: [], cause: 'timer' },
      { at: day(50), entered: [], exited: ['inactive-pro'], cause: events[5].id },
      { at: day(52), entered: ['active-free'], exited: ['inactive'], cause: events[6].id },
    ]);
  });

  it('orders definitions after their dependencies and tolerates cycles', () => {
    expect(dependencyOrder([activeFree, inactivePro, inactive]).map((d) => d.id)).toEqual(['inactive', 'active-free', 'inactive-pro']);
    const a = define({ id: 'a', name: 'a', where: { segment: 'b' } });
    const b = define({ id: 'b', name: 'b', where: { any: [{ segment: 'a' }, { segment: 'missing' }] } });
    expect(evaluateSegments([a, b], newProfile('u', 0), 0).members).toEqual(new Set());
  });
});

describe('subscriptions', () => {
  const reachable = define({ id: 'reachable', name: 'Reachable by email', where: { all: [{ subscribed: 'email' }, { trait: 'email', op: 'exists' }] } });

  it('counts everyone as subscribed until they unsubscribe', () => {
    const events = [
      identify({ email: 'a@x.io' }, day(0)),
      event('Unsubscribed', { channel: 'sms' }, day(1)),
      event('Unsubscribed', { channel: 'email' }, day(2)),
      event('Subscribed', { channel: 'email' }, day(3)),
      identify({ email: null }, day(4)),
    ];
    expect(simulate([reachable], events, day(10)).changes).toEqual([
      { at: day(0), entered: ['reachable'], exited: [], cause: events[0].id },
      { at: day(2), entered: [], exited: ['reachable'], cause: events[2].id },
      { at: day(3), entered: ['reachable'], exited: [], cause: events[3].id },
      { at: day(4), entered: [], exited: ['reachable'], cause: events[4].id },
    ]);
  });
});

describe('relative dates', () => {
  it('enters and exits a trial-ending window exactly, with no event', () => {
    const trialEnding = define({
      id: 'trial-ending',
      name: 'Trial ends within 3 days (or ended less than a day ago)',
      where: {
        all: [
          { trait: 'trialEndsAt', op: 'lte', value: { in: '3d' } },
          { trait: 'trialEndsAt', op: 'gt', value: { ago: '1d' } },
        ],
      },
    });
    const events = [identify({ trialEndsAt: new Date(day(14)).toISOString() }, day(0))];
    expect(simulate([trialEnding], events, day(30)).changes).toEqual([
      { at: day(11), entered: ['trial-ending'], exited: [], cause: 'timer' },
      { at: day(15), entered: [], exited: ['trial-ending'], cause: 'timer' },
    ]);
  });

  it('reads date-only traits in the user timezone, else the workspace timezone', () => {
    const veteran = define({ id: 'veteran', name: 'Signed up over 30 days ago', where: { trait: 'signupDate', op: 'lt', value: { ago: '30d' } } });
    // 2026-03-02 starts at 2026-03-01T23:00Z in Amsterdam and at 05:00Z in New York.
    const amsterdam = simulate([veteran], [identify({ signupDate: '2026-03-02' }, day(0))], day(40), 'Europe/Amsterdam');
    expect(amsterdam.changes).toEqual([{ at: day(30) - HOUR + 1, entered: ['veteran'], exited: [], cause: 'timer' }]);
    const newYork = simulate([veteran], [identify({ signupDate: '2026-03-02', timezone: 'America/New_York' }, day(0))], day(40), 'Europe/Amsterdam');
    expect(newYork.changes).toEqual([{ at: day(30) + 5 * HOUR + 1, entered: ['veteran'], exited: [], cause: 'timer' }]);
  });
});

describe('property filters', () => {
  it('match dotted paths into nested objects and arrays', () => {
    const utrechtA1 = define({
      id: 'utrecht-a1',
      name: 'Bought A1 shipped to Utrecht',
      where: {
        performed: 'Order Completed',
        where: [
          { property: 'items.0.sku', op: 'eq', value: 'A1' },
          { property: 'shipping.address.city', op: 'in', value: ['Utrecht', 'Zeist'] },
          { property: 'total', op: 'gte', value: 100 },
        ],
      },
    });
    const order = (sku: string, city: string, total: number, at: number) =>
      track('Order Completed', { items: [{ sku }], shipping: { address: { city } }, total }, at);
    const events = [
      order('A1', 'Delft', 150, day(1)),
      order('B2', 'Utrecht', 150, day(2)),
      order('A1', 'Utrecht', 50, day(3)),
      order('A1', 'Zeist', 100, day(4)),
    ];
    expect(simulate([utrechtA1], events, day(10)).changes).toEqual([{ at: day(4), entered: ['utrecht-a1'], exited: [], cause: events[3].id }]);
  });
});

describe('nextChangeAt', () => {
  const profileWith = (times: number[], key: string): Profile => ({ ...newProfile('u', 0), counters: { [key]: { count: times.length, times } } });
  const ctx = (profile: Profile, now: number, members: string[] = []): EvaluationContext => ({ profile, now, isMember: (id) => members.includes(id) });

  it('skips leaf changes that do not change the whole condition', () => {
    const recent: Condition = { performed: 'Clicked', within: '1d' };
    const [spec] = counterSpecsFor([{ id: 'x', name: 'x', where: recent }]);
    // Three clicks leave the window at day 1, 1.5 and 2; "any" stays true until the last one leaves.
    const profile = profileWith([day(0), day(0, 12), day(1)], spec.key);
    const condition: Condition = { any: [recent, { trait: 'plan', op: 'eq', value: 'x' }] };
    expect(nextChangeAt(condition, ctx(profile, day(1)))).toBe(day(2));
    // Held false by another segment, it never changes by time alone.
    expect(nextChangeAt({ all: [recent, { segment: 'other' }] }, ctx(profile, day(1)))).toBeUndefined();
    expect(nextChangeAt({ all: [recent, { segment: 'other' }] }, ctx(profile, day(1), ['other']))).toBe(day(2));
  });

  it('agrees with a brute-force search over random histories (equal times, future times, every count kind)', () => {
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return Math.floor(seed / 65_536) % n;
    };
    const counts = [{ gte: 1 }, { gte: 3 }, { gte: 0 }, { lte: 0 }, { lte: 2 }, { eq: 0 }, { eq: 2 }, { eq: 4 }];
    for (let round = 0; round < 400; round++) {
      const condition: Condition = { performed: 'Clicked', within: '1h', count: counts[round % counts.length] };
      const [spec] = counterSpecsFor([{ id: 'x', name: 'x', where: condition }]);
      const times = Array.from({ length: random(8) }, () => random(12) * 15 * 60_000).sort((a, b) => a - b);
      const profile = profileWith(times, spec.key);
      const now = random(14) * 10 * 60_000;
      const truth = (at: number) => evaluateCondition(condition, ctx(profile, at));
      const candidates = [...new Set(times.flatMap((t) => [t, t + HOUR]))].filter((m) => m > now).sort((a, b) => a - b);
      const expected = candidates.find((m) => truth(m) !== truth(now));
      expect({ times, now, count: condition.count, next: nextChangeAt(condition, ctx(profile, now)) }).toEqual({ times, now, count: condition.count, next: expected });
    }
  });

  it('is undefined for conditions that do not depend on time', () => {
    const profile = { ...newProfile('u', 0), traits: { plan: 'pro' } };
    for (const condition of [{ trait: 'plan', op: 'eq', value: 'pro' }, { performed: 'X' }, { subscribed: 'sms' }, { segment: 'a' }] as Condition[]) {
      expect(nextChangeAt(condition, ctx(profile, 0))).toBeUndefined();
      expect(typeof evaluateCondition(condition, ctx(profile, 0))).toBe('boolean');
    }
  });
});

describe('diffMembership', () => {
  it('lists entered and exited segments, sorted', () => {
    expect(diffMembership(new Set(['b', 'a', 'c']), new Set(['c', 'e', 'd']))).toEqual({ entered: ['d', 'e'], exited: ['a', 'b'] });
  });
});
