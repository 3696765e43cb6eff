import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestClock } from '../shared/clock';
import { adminGet, adminSend, eventually, post, startTestApp, type TestApp } from '../test-support/herald-test-app';
import { SegmentTimers } from './segment-timers';
import { userStream } from '@herald/projections';
import { EVENT_STORE, type EventStore } from '../event-store/event-store.port';
import { uuidv7 } from '../shared/ids';

const examples = join(__dirname, '../../../examples');
const DAY = 86_400_000;

let herald: TestApp;
let clock: TestClock;
beforeEach(async () => {
  clock = new TestClock(new Date('2026-03-01T10:00:00Z'));
  herald = await startTestApp({ clock });
});
afterEach(() => herald.destroy());

const track = (userId: string, event: string, properties: Record<string, unknown> = {}) =>
  post(`${herald.url}/v1/track`, { userId, event, properties, timestamp: clock.now().toISOString() });
const identify = (userId: string, traits: Record<string, unknown>) => post(`${herald.url}/v1/identify`, { userId, traits });
const members = async (segment: string) =>
  ((await adminGet(`${herald.url}/api/segments/${segment}/members`)).body.members as Array<{ userId: string }>).map((m) => m.userId).sort();
const membersAre = (segment: string, expected: string[]) =>
  eventually(async () => JSON.stringify(await members(segment)) === JSON.stringify(expected));
const fireTimers = () => herald.app.get(SegmentTimers).fireDue();

describe('segments', () => {
  it('accepts examples/segments/engaged-shoppers.yaml verbatim as YAML and is idempotent on re-publish', async () => {
    const yaml = readFileSync(join(examples, 'segments/engaged-shoppers.yaml'), 'utf8');
    const created = await adminSend('POST', `${herald.url}/api/segments`, yaml, 'application/yaml');
    expect(created).toEqual({ status: 201, body: { id: 'engaged-shoppers', version: 1 } });
    expect(await adminSend('POST', `${herald.url}/api/segments`, yaml, 'application/yaml')).toEqual({
      status: 200,
      body: { id: 'engaged-shoppers', version: 1 },
    });
    const changed = yaml.replace('gte: 3', 'gte: 2');
    expect((await adminSend('POST', `${herald.url}/api/segments`, changed, 'application/yaml')).body.version).toBe(2);
    const list = await adminGet(`${herald.url}/api/segments`);
    expect(list.body.segments).toEqual([expect.objectContaining({ id: 'engaged-shoppers', name: 'Engaged shoppers', version: 2 })]);
    const one = await adminGet(`${herald.url}/api/segments/engaged-shoppers`);
    expect(one.body.definition.where.all[1].count).toEqual({ gte: 2 });
  });

  it('computes a new segment over existing history, then keeps membership live, and exits on a timer', async () => {
    await identify('ada', { plan: 'pro' });
    await identify('bob', { plan: 'free' });
    for (let i = 0; i < 3; i++) {
      await track('ada', 'Product Viewed', { category: 'shoes' });
      await track('bob', 'Product Viewed', { category: 'shoes' });
      clock.advance(DAY);
    }
    // Defined after the fact: backfilled from the log.
    const yaml = readFileSync(join(examples, 'segments/engaged-shoppers.yaml'), 'utf8');
    expect((await adminSend('POST', `${herald.url}/api/segments`, yaml, 'application/yaml')).status).toBe(201);
    await membersAre('engaged-shoppers', ['ada']);

    // Live: bob upgrades and enters at once.
    await identify('bob', { plan: 'pro' });
    await membersAre('engaged-shoppers', ['ada', 'bob']);
    // The entry names the event that caused it: the identify.
    const bobEvents = (await adminGet(`${herald.url}/api/users/bob/events`)).body.events as Array<{ id: string; type: string; data: { traits?: { plan?: string } }; metadata: { causationId?: string } }>;
    const upgrade = bobEvents.find((e) => e.type === 'Identified' && e.data.traits?.plan === 'pro')!;
    expect(bobEvents.filter((e) => e.type === 'SegmentEntered').map((e) => e.metadata.causationId)).toEqual([upgrade.id]);
    // The user's profile lists the segments they are in now.
    expect((await adminGet(`${herald.url}/api/users/bob`)).body).toMatchObject({ traits: { plan: 'pro' }, segments: ['engaged-shoppers'] });

    // An order makes ada leave.
    await track('ada', 'Order Completed', { total: 80 });
    await membersAre('engaged-shoppers', ['bob']);

    // Bob's first view leaves the 7-day window 7 days after it happened: a timer, not a poll, flips him out.
    clock.set(new Date(Date.parse('2026-03-01T10:00:00Z') + 7 * DAY - 1));
    await fireTimers();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await members('engaged-shoppers')).toEqual(['bob']);
    clock.set(new Date(Date.parse('2026-03-01T10:00:00Z') + 7 * DAY + 1));
    await eventually(async () => (await fireTimers()) >= 0 && (await members('engaged-shoppers')).length === 0);

    const history = (await adminGet(`${herald.url}/api/users/bob/events`)).body.events as Array<{ type: string; metadata: { occurredAt: string; causationId?: string }; data: Record<string, unknown> }>;
    const exited = history.find((e) => e.type === 'SegmentExited')!;
    expect(exited.metadata.occurredAt).toBe(new Date(Date.parse('2026-03-01T10:00:00Z') + 7 * DAY).toISOString());
    const timer = history.find((e) => e.type === 'TimerFired')!;
    expect(exited.metadata.causationId).toBe((timer as unknown as { id: string }).id);
  });

  it('answers which segments a user was in at a past moment, from the log', async () => {
    await adminSend('POST', `${herald.url}/api/segments`, {
      id: 'viewers',
      name: 'Viewed something in the last day',
      where: { performed: 'Product Viewed', within: '1d' },
    });
    const t0 = clock.now().toISOString();
    await track('cy', 'Product Viewed');
    await membersAre('viewers', ['cy']);
    const t1 = clock.now().toISOString();
    clock.advance(2 * DAY);
    await eventually(async () => (await fireTimers()) >= 0 && (await members('viewers')).length === 0);
    const t2 = clock.now().toISOString();
    const at = async (moment: string) =>
      (await adminGet(`${herald.url}/api/users/cy/segments?at=${encodeURIComponent(moment)}`)).body.segments.map((s: { segmentId: string }) => s.segmentId);
    expect(await at(new Date(Date.parse(t0) - 1000).toISOString())).toEqual([]);
    expect(await at(t1)).toEqual(['viewers']);
    expect(await at(t2)).toEqual([]);
    expect((await adminGet(`${herald.url}/api/users/cy/segments?at=yesterday`)).status).toBe(400);
    expect((await adminGet(`${herald.url}/api/users/cy/segments?at=${encodeURIComponent('March 1, 2026')}`)).status).toBe(400);
  });

  it('re-decides membership when the workspace time zone changes, as it moves wall-clock dates', async () => {
    clock.set(new Date('2026-03-10T10:00:00Z'));
    await adminSend('POST', `${herald.url}/api/segments`, { id: 'trial-over', name: 'Trial over an hour ago', where: { trait: 'trialEndsAt', op: 'lt', value: { ago: '1h' } } });
    // No offset: 12:00 in the workspace's zone, UTC for now, so the trial is not over at 10:00 UTC.
    await identify('gil', { trialEndsAt: '2026-03-10T12:00' });
    await eventually(async () => (await adminGet(`${herald.url}/api/users/gil`)).status === 200);
    expect(await members('trial-over')).toEqual([]);
    // In Kolkata 12:00 is 06:30 UTC: over since 07:30 UTC, so gil is in the segment from this moment.
    clock.set(new Date('2026-03-10T10:30:00Z'));
    expect((await adminSend('PUT', `${herald.url}/api/settings/messaging`, { timezone: 'Asia/Kolkata' })).status).toBe(200);
    await membersAre('trial-over', ['gil']);
    const at = (await adminGet(`${herald.url}/api/users/gil/segments?at=2026-03-10T10:30:00Z`)).body.segments;
    expect(at).toEqual([expect.objectContaining({ segmentId: 'trial-over', since: '2026-03-10T10:30:00.000Z' })]);
    // Back to UTC: out again, and in on the timer at 13:00:00.001 UTC.
    clock.set(new Date('2026-03-10T11:00:00Z'));
    expect((await adminSend('PUT', `${herald.url}/api/settings/messaging`, { timezone: 'UTC' })).status).toBe(200);
    await membersAre('trial-over', []);
    clock.set(new Date('2026-03-10T13:00:00.001Z'));
    await eventually(async () => (await fireTimers()) >= 0 && (await members('trial-over')).length === 1);
  });

  it('supports segment-of-segment and subscription conditions, and pages members with a total', async () => {
    await adminSend('POST', `${herald.url}/api/segments`, { id: 'pro', name: 'Pro', where: { trait: 'plan', op: 'eq', value: 'pro' } });
    await adminSend('POST', `${herald.url}/api/segments`, {
      id: 'pro-emailable',
      name: 'Pro and subscribed to email',
      where: { all: [{ segment: 'pro' }, { subscribed: 'email' }] },
    });
    for (let i = 0; i < 5; i++) await identify(`p${i}`, { plan: 'pro' });
    await membersAre('pro-emailable', ['p0', 'p1', 'p2', 'p3', 'p4']);
    const page = await adminGet(`${herald.url}/api/segments/pro-emailable/members?limit=2&offset=2`);
    expect(page.body).toMatchObject({ total: 5, limit: 2, offset: 2, members: [{ userId: 'p2' }, { userId: 'p3' }] });
    expect((await adminGet(`${herald.url}/api/segments/pro-emailable/members?limit=0`)).status).toBe(400);

    expect((await adminSend('DELETE', `${herald.url}/api/segments/pro`)).status).toBe(409);
    expect((await adminSend('DELETE', `${herald.url}/api/segments/pro-emailable`)).status).toBe(200);
    expect((await adminGet(`${herald.url}/api/segments/pro-emailable`)).status).toBe(404);
    expect((await adminSend('DELETE', `${herald.url}/api/segments/pro`)).status).toBe(200);

    // A scenario that names a segment keeps it until the scenario is archived.
    await adminSend('POST', `${herald.url}/api/segments`, { id: 'lapsed', name: 'Lapsed', where: { not: { performed: 'Logged In', within: '14d' } } });
    const winback = { id: 'winback', name: 'Win-back', trigger: { segment: { entered: 'lapsed' } }, steps: [{ id: 'mail', send: { channel: 'email', template: 'winback-plain' } }] };
    expect((await adminSend('POST', `${herald.url}/api/scenarios`, winback)).status).toBe(201);
    expect(await adminSend('DELETE', `${herald.url}/api/segments/lapsed`)).toEqual({
      status: 409,
      body: { error: 'conflict', message: 'Segment lapsed is used by scenario winback; change or archive it first' },
    });
    expect((await adminGet(`${herald.url}/api/segments/lapsed`)).status).toBe(200);
    await adminSend('POST', `${herald.url}/api/scenarios/winback/archive`);
    expect((await adminSend('DELETE', `${herald.url}/api/segments/lapsed`)).status).toBe(200);
  });

  it('rejects invalid definitions with a 400 naming the path, and stores nothing', async () => {
    const before = (await adminGet(`${herald.url}/health`)).body.head;
    const cases: Array<[unknown, string]> = [
      [{ id: 'x', name: 'X', where: { trait: 'plan', op: 'equals', value: 1 } }, 'where.op'],
      [{ id: 'x', name: 'X', where: { performed: 'A', within: '7x' } }, 'where.within'],
      [{ id: 'x', name: 'X' }, 'where'],
      [{ id: 'x', name: 'X', where: { segment: 'x' } }, 'where.segment'],
      [{ id: 'x', name: 'X', where: { segment: 'nope' } }, 'where.segment'],
      [{ id: 'Bad Id!', name: 'X', where: { trait: 'a', op: 'exists' } }, 'id'],
    ];
    for (const [definition, path] of cases) {
      const response = await adminSend('POST', `${herald.url}/api/segments`, definition);
      expect({ definition, status: response.status }).toEqual({ definition, status: 400 });
      expect(response.body.error).toBe('invalid_definition');
      expect(response.body.problems.map((p: { path: string }) => p.path)).toContain(path);
    }
    const badYaml = await adminSend('POST', `${herald.url}/api/segments`, 'id: x\nwhere: [unclosed', 'application/yaml');
    expect(badYaml.status).toBe(400);
    expect(badYaml.body.message).toMatch(/YAML.*line/);
    // Aliases the YAML reader will not expand (a "billion laughs" body, an alias without its anchor).
    const bomb = `id: x\nname: X\na: &a [1, 2]\nwhere: [${Array(120).fill('*a').join(', ')}]`;
    // Nested 100,000 deep (200 KB): V8 ran out of memory compiling a regular expression in the
    // parser's recursion and the process ended; it is refused before the parser runs.
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    for (const body of [bomb, 'id: x\nwhere: *nowhere', deep]) {
      const refused = await adminSend('POST', `${herald.url}/api/segments`, body, 'application/yaml');
      expect(refused).toMatchObject({ status: 400, body: { message: expect.stringMatching(/^The request body is not valid YAML: /) } });
    }
    expect((await adminGet(`${herald.url}/health`)).body.head).toBe(before);
  });
});

describe('users and messaging settings', () => {
  it('accepts examples/settings/messaging.yaml verbatim and shows cap usage on the user', async () => {
    const yaml = readFileSync(join(examples, 'settings/messaging.yaml'), 'utf8');
    const saved = await adminSend('PUT', `${herald.url}/api/settings/messaging`, yaml, 'application/yaml');
    expect(saved.status).toBe(200);
    expect(saved.body.settings).toEqual({
      caps: [
        { channel: 'any', max: 3, per: '7d' },
        { channel: 'sms', max: 1, per: '1d' },
      ],
      quietHours: { start: '21:00', end: '08:00' },
      timezone: 'Europe/Amsterdam',
    });
    expect((await adminGet(`${herald.url}/api/settings/messaging`)).body.version).toBe(1);
    const bad = await adminSend('PUT', `${herald.url}/api/settings/messaging`, { caps: [{ channel: 'fax', max: 0, per: '1x' }] });
    expect(bad.status).toBe(400);
    expect(bad.body.problems.map((p: { path: string }) => p.path)).toEqual(expect.arrayContaining(['caps[0].channel', 'caps[0].max', 'caps[0].per']));
    expect((await adminGet(`${herald.url}/api/settings/messaging`)).body.version).toBe(1);

    await identify('dee', { plan: 'pro', timezone: 'America/New_York', first_name: 'Dee' });
    const user = await eventually(async () => {
      const response = await adminGet(`${herald.url}/api/users/dee`);
      return response.status === 200 && response.body;
    });
    expect(user).toMatchObject({
      userId: 'dee',
      traits: { plan: 'pro', timezone: 'America/New_York', first_name: 'Dee' },
      segments: [],
      frequencyCaps: [
        { channel: 'any', per: '7d', used: 0, max: 3 },
        { channel: 'sms', per: '1d', used: 0, max: 1 },
      ],
    });
    expect((await adminGet(`${herald.url}/api/users/nobody`)).status).toBe(404);
  });

  it('answers first and last seen exactly, also for events that arrive late', async () => {
    const at = (hours: number) => new Date(clock.now().getTime() + hours * 3_600_000).toISOString();
    const page = (userId: string, timestamp: string) => post(`${herald.url}/v1/page`, { userId, name: 'Pricing', timestamp });
    expect((await post(`${herald.url}/v1/identify`, { userId: 'fay', traits: { plan: 'pro' }, timestamp: at(-5) })).status).toBe(200);
    expect((await page('fay', at(-1))).status).toBe(200);
    // Happened before the page view above, arrives after it: last seen stays.
    expect((await page('fay', at(-3))).status).toBe(200);
    const seen = await eventually(async () => {
      const { body } = await adminGet(`${herald.url}/api/users/fay`);
      return body.lastSeen === at(-1) && body;
    });
    expect(seen).toMatchObject({ firstSeen: at(-5), lastSeen: at(-1) });
    expect((await page('fay', at(-6))).status).toBe(200);
    await eventually(async () => (await adminGet(`${herald.url}/api/users/fay`)).body.firstSeen === at(-6));
    expect((await adminGet(`${herald.url}/api/users/fay`)).body).toMatchObject({ firstSeen: at(-6), lastSeen: at(-1) });
    // An alias call is the user's own activity too (docs/segments.md, Profiles).
    expect((await post(`${herald.url}/v1/alias`, { previousId: 'fay-before', userId: 'fay', timestamp: at(-0.5) })).status).toBe(200);
    await eventually(async () => (await adminGet(`${herald.url}/api/users/fay`)).body.lastSeen === at(-0.5));
    expect((await adminGet(`${herald.url}/api/users/fay`)).body).toMatchObject({ firstSeen: at(-6), lastSeen: at(-0.5) });
  });
});

describe('frequency caps and quiet hours for a user', () => {
  it('counts queued messages against the caps and says why and until when a send is held back', async () => {
    const yaml = readFileSync(join(examples, 'settings/messaging.yaml'), 'utf8');
    expect((await adminSend('PUT', `${herald.url}/api/settings/messaging`, yaml, 'application/yaml')).status).toBe(200);
    // 10:00 UTC on 1 March is 11:00 in Amsterdam: outside quiet hours.
    await identify('eve', { plan: 'pro' });
    const store = herald.app.get<EventStore>(EVENT_STORE);
    const queue = async (channel: string, transactional = false) => {
      const now = clock.now().toISOString();
      await store.append(userStream('default', 'eve'), [
        { id: uuidv7(), type: 'MessageQueued', data: { channel, transactional }, metadata: { workspace: 'default', occurredAt: now, receivedAt: now, schemaVersion: 1 } },
      ]);
    };
    await queue('sms');
    await queue('email', true);
    const check = (channel: string, extra = '') => adminGet(`${herald.url}/api/users/eve/send-check?channel=${channel}${extra}`);
    await eventually(async () => (await adminGet(`${herald.url}/api/users/eve`)).body.frequencyCaps?.[1]?.used === 1);
    const user = (await adminGet(`${herald.url}/api/users/eve`)).body;
    expect(user.frequencyCaps).toEqual([
      { channel: 'any', per: '7d', used: 1, max: 3, resetsAt: '2026-03-08T10:00:00.000Z' },
      { channel: 'sms', per: '1d', used: 1, max: 1, resetsAt: '2026-03-02T10:00:00.000Z' },
    ]);
    const sms = await check('sms');
    expect(sms.body).toMatchObject({ allowed: false, reason: 'frequency_cap', outcome: 'suppressed', nextAllowedAt: '2026-03-02T10:00:00.000Z' });
    expect((await check('email')).body).toMatchObject({ allowed: true });
    expect((await check('sms', '&transactional=true')).body).toMatchObject({ allowed: true });
    // 22:00 in Amsterdam (21:00 UTC) is quiet until 08:00 Amsterdam (07:00 UTC).
    const quiet = await check('email', '&at=2026-03-01T21:00:00Z');
    expect(quiet.body).toMatchObject({ allowed: false, reason: 'quiet_hours', outcome: 'deferred', nextAllowedAt: '2026-03-02T07:00:00.000Z' });
    // Without an offset, `at` is UTC whatever the server's zone; text that is not ISO 8601 is a 400.
    expect((await check('email', '&at=2026-03-01T21:00')).body).toMatchObject({ at: '2026-03-01T21:00:00.000Z', reason: 'quiet_hours' });
    expect((await check('fax')).status).toBe(400);
    expect((await check('email', '&at=soon')).status).toBe(400);
    expect((await check('email', `&at=${encodeURIComponent('March 1, 2026 21:00')}`)).body).toMatchObject({ path: 'at' });
    expect((await check('email', '&at=2026-03-01T21:00:00Z&at=2026-03-02T21:00:00Z')).status).toBe(400);
    // `transactional` is true or false: anything else would silently answer for a marketing message.
    expect((await check('sms', '&transactional=false')).body).toMatchObject({ allowed: false, reason: 'frequency_cap' });
    for (const value of ['yes', '1', 'TRUE', '']) {
      expect(await check('sms', `&transactional=${value}`)).toMatchObject({
        status: 400,
        body: { path: 'transactional', message: `transactional must be true or false, got "${value}"` },
      });
    }
  });
});
