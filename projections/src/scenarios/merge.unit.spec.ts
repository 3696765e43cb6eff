import type { DomainEvent } from '../events';
import { NO_SETTINGS } from '../messaging';
import { decide } from './decide';
import { decideMergeFrom, decideMergeInto, linkedPersons } from './merge';
import { evolvePersonState, initialPersonState, type PersonState } from './person-state';
import type { ScenarioDefinition } from './scenario-definition';
import type { Decision } from './scenario-events';
import { ScenarioSimulator, staticCatalog } from './simulator';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-03-02T10:00:00Z');

const cart: ScenarioDefinition = {
  id: 'cart',
  name: 'Cart',
  trigger: { event: 'Checkout Started' },
  exitOn: [{ event: 'Order Completed' }],
  goal: { event: 'Order Completed', within: '72h' },
  steps: [
    { id: 'wait-1h', wait: '1h' },
    { id: 'reminder', send: { channel: 'email', template: 'cart', variants: [{ key: 'a', weight: 50, template: 'a' }, { key: 'b', weight: 50, template: 'b' }] } },
    { id: 'wait-purchase', waitFor: { event: 'Order Completed', timeout: '24h' }, onEvent: 'done', onTimeout: 'sms' },
    { id: 'sms', send: { channel: 'sms', template: 'cart-sms' } },
    { id: 'done', exit: true },
  ],
};
const catalog = staticCatalog([{ definition: cart }]);

let sequence = 0;
function event(type: string, data: unknown, at: number, causationId?: string): DomainEvent {
  const iso = new Date(at).toISOString();
  return { id: `e${sequence++}`, type, data, metadata: { workspace: 'w', causationId, occurredAt: iso, receivedAt: iso, schemaVersion: 1 } };
}
const tracked = (name: string, at: number) => event('Tracked', { event: name, properties: {} }, at);
function fold(state: PersonState, decisions: Decision[], at: number, cause: string): PersonState {
  for (const decision of decisions) state = evolvePersonState(state, event(decision.type, decision.data, at, cause));
  return state;
}
function onEvent(state: PersonState, cause: DomainEvent, at: number): { state: PersonState; decisions: Decision[] } {
  const decisions = decide(state, { cause: { kind: 'event', event: cause }, now: at, scenarios: catalog, settings: NO_SETTINGS });
  return { state: fold(state, decisions, at, cause.id), decisions };
}

/** An anonymous visitor enrolled at T0 and, an hour later, emailed and waiting for the order. */
function anonymousWaitingForOrder(): PersonState {
  let anon = onEvent(initialPersonState('anon:v1'), tracked('Checkout Started', T0), T0).state;
  const timer = anon.enrollments[Object.keys(anon.enrollments)[0]].timer!;
  const fired = event('TimerFired', { purpose: 'scenario', timerId: timer.id, enrollmentId: Object.keys(anon.enrollments)[0], dueAt: new Date(timer.dueAt).toISOString() }, T0 + HOUR);
  anon = onEvent(anon, fired, T0 + HOUR).state;
  return anon;
}

describe('moving enrolments across an identity link', () => {
  it('moves an active enrolment to the user with its state and timer, ends it where it was, and the user then meets its goal and exit', () => {
    const anon = anonymousWaitingForOrder();
    const [enrollment] = Object.values(anon.enrollments);
    expect(enrollment).toMatchObject({ status: 'active', step: 'wait-purchase', timer: { purpose: 'waitFor-timeout', dueAt: T0 + 25 * HOUR } });
    const variant = enrollment.variants.reminder;
    expect(['a', 'b']).toContain(variant);

    const at = T0 + 2 * HOUR;
    const into = decideMergeInto(initialPersonState('user:ada'), anon, 'link-1', catalog);
    expect(into.map((d) => d.type)).toEqual(['PersonMerged', 'EnrollmentMerged', 'TimerScheduled']);
    expect(into[2].data).toMatchObject({ enrollmentId: enrollment.id, stepId: 'wait-purchase', purpose: 'waitFor-timeout', dueAt: new Date(T0 + 25 * HOUR).toISOString() });
    expect((into[2].data as { timerId: string }).timerId).not.toBe(enrollment.timer!.id);
    let user = fold(initialPersonState('user:ada'), into, at, 'link-1');
    expect(user.enrollments[enrollment.id]).toMatchObject({
      status: 'active',
      step: 'wait-purchase',
      startedAt: T0,
      variants: { reminder: variant },
      visits: enrollment.visits,
      timer: { purpose: 'waitFor-timeout', dueAt: T0 + 25 * HOUR },
    });
    expect(user.starts.cart).toEqual({ at: T0, count: 1 });

    const from = decideMergeFrom(anon, user, 'link-1');
    expect(from).toEqual([
      { type: 'EnrollmentExited', key: `exit|${enrollment.id}`, data: { enrollmentId: enrollment.id, scenarioId: 'cart', reason: 'merged_into_user', stepId: 'wait-purchase' } },
    ]);
    const anonAfter = fold(anon, from, at, 'link-1');
    expect(anonAfter.enrollments[enrollment.id].status).toBe('exited');

    // A re-run (after a crash) decides nothing more on either side.
    expect(decideMergeInto(user, anon, 'link-1', catalog)).toEqual([]);
    expect(decideMergeFrom(anonAfter, user, 'link-1')).toEqual([]);

    // The order, now under the user id: the goal (with the anonymous enrolment's variant) and the exit, no SMS, no new variant.
    const order = onEvent(user, tracked('Order Completed', T0 + 3 * HOUR), T0 + 3 * HOUR);
    user = order.state;
    expect(order.decisions.map((d) => d.type)).toEqual(['GoalReached', 'EnrollmentExited']);
    expect(order.decisions[0].data).toMatchObject({ enrollmentId: enrollment.id, variants: { reminder: variant }, afterMs: 3 * HOUR });
    expect(order.decisions[1].data).toMatchObject({ enrollmentId: enrollment.id, reason: 'exit_on' });
  });

  it("keeps the user's own active enrolment in the same scenario and ends the anonymous one", () => {
    const anon = anonymousWaitingForOrder();
    const [moved] = Object.values(anon.enrollments);
    const user = onEvent(initialPersonState('user:ada'), tracked('Checkout Started', T0 + 30 * 60_000), T0 + 30 * 60_000).state;
    const [own] = Object.values(user.enrollments);

    expect(decideMergeInto(user, anon, 'link-1', catalog).map((d) => d.type)).toEqual(['PersonMerged']);
    const from = decideMergeFrom(anon, user, 'link-1');
    expect(from.map((d) => d.data)).toEqual([{ enrollmentId: moved.id, scenarioId: 'cart', reason: 'merged_already_enrolled', stepId: 'wait-purchase' }]);
    expect(Object.keys(user.enrollments)).toEqual([own.id]);
  });

  it('moves nothing that has ended, and nothing when the link joins a person to themselves', () => {
    const anon = anonymousWaitingForOrder();
    const ended = onEvent(anon, tracked('Order Completed', T0 + 2 * HOUR), T0 + 2 * HOUR).state;
    expect(decideMergeInto(initialPersonState('user:ada'), ended, 'link-1', catalog).map((d) => d.type)).toEqual(['PersonMerged']);
    expect(decideMergeFrom(ended, initialPersonState('user:ada'), 'link-1')).toEqual([]);
    expect(decideMergeInto(initialPersonState('anon:v1'), anon, 'link-1', catalog)).toEqual([]);
    // Which persons a link joins, for the engine and the simulator alike.
    expect(linkedPersons({ key: 'anon:v1', userId: 'ada' })).toEqual({ from: 'anon:v1', into: 'user:ada' });
    expect(linkedPersons({ key: 'user:ada', userId: 'ada' })).toBeUndefined();
  });

  it('the simulator (herald simulate) follows a link as the engine does: a guest who orders after signing in gets no SMS', () => {
    const run = (withLink: boolean) => {
      const sim = new ScenarioSimulator(catalog, NO_SETTINGS);
      sim.handle('anon:v2', tracked('Checkout Started', T0));
      sim.advanceTo(T0 + 2 * HOUR);
      if (withLink) sim.handle('user:grace', event('IdentityLinked', { key: 'anon:v2', userId: 'grace' }, T0 + 2 * HOUR));
      sim.handle('user:grace', tracked('Order Completed', T0 + 3 * HOUR));
      sim.advanceTo(T0 + 48 * HOUR);
      return sim.log.filter((e) => ['MessageQueued', 'GoalReached', 'EnrollmentMerged', 'EnrollmentExited'].includes(e.type)).map((e) => [e.person, e.type, (e.data as { channel?: string; reason?: string }).channel ?? (e.data as { reason?: string }).reason ?? '']);
    };
    // Without the link the guest's enrolment never sees the order: the SMS goes out a day later.
    expect(run(false)).toEqual([['anon:v2', 'MessageQueued', 'email'], ['anon:v2', 'MessageQueued', 'sms'], ['anon:v2', 'EnrollmentExited', 'exit_step']]);
    expect(run(true)).toEqual([
      ['anon:v2', 'MessageQueued', 'email'],
      ['user:grace', 'EnrollmentMerged', ''],
      ['anon:v2', 'EnrollmentExited', 'merged_into_user'],
      ['user:grace', 'GoalReached', ''],
      ['user:grace', 'EnrollmentExited', 'exit_on'],
    ]);
  });

  it("joins what the engine knew of the identity to the user's state once: traits, counters, subscriptions and the messages the caps count", () => {
    const specs = [{ key: 'viewed', event: 'Product Viewed', windowMs: undefined }];
    const options = { specs, capWindowMs: 7 * 24 * HOUR };
    let anon = initialPersonState('anon:v3');
    anon = evolvePersonState(anon, event('Identified', { traits: { plan: 'pro', city: 'Utrecht' } }, T0), options);
    anon = evolvePersonState(anon, tracked('Product Viewed', T0 + 1), options);
    anon = evolvePersonState(anon, event('Unsubscribed', { channel: 'sms' }, T0 + 2), options);
    anon = evolvePersonState(anon, event('MessageQueued', { channel: 'email', messageId: 'm1' }, T0 + 3), options);
    let user = initialPersonState('user:ada');
    user = evolvePersonState(user, event('Identified', { traits: { plan: 'free' } }, T0 + HOUR), options);
    user = evolvePersonState(user, tracked('Product Viewed', T0 + HOUR + 1), options);
    user = evolvePersonState(user, event('MessageQueued', { channel: 'email', messageId: 'm2' }, T0 + HOUR + 2), options);

    const [merged] = decideMergeInto(user, anon, 'link-3', catalog);
    const mergedEvent = event(merged.type, merged.data, T0 + 2 * HOUR, 'link-3');
    const after = evolvePersonState(user, mergedEvent, options);
    expect(after.profile.traits).toEqual({ plan: 'free', city: 'Utrecht' });
    expect(after.profile.counters.viewed.count).toBe(2);
    expect(after.profile.subscriptions.sms).toBe(false);
    expect(after.caps.sent.map((m) => m.at)).toEqual([T0 + 3, T0 + HOUR + 2]);
    expect(after.handled).toContain('link-3');
    // The same decision again (the simulator meeting the live engine's copy in the log) changes nothing.
    const again = evolvePersonState(after, { ...mergedEvent, id: 'copy' }, options);
    expect({ ...again.profile, caps: again.caps }).toEqual({ ...after.profile, caps: after.caps });
  });

  it("counts the guest's finished enrolments for re-entry: a scenario entered once as a guest does not start again for the user", () => {
    const welcome: ScenarioDefinition = { id: 'welcome', name: 'Welcome', trigger: { event: 'Visited' }, steps: [{ id: 'hello', send: { channel: 'email', template: 'hello' } }] };
    const run = (withLink: boolean) => {
      const sim = new ScenarioSimulator(staticCatalog([{ definition: welcome }, { definition: cart }]), NO_SETTINGS);
      sim.handle('anon:v4', tracked('Visited', T0));
      sim.handle('anon:v4', tracked('Checkout Started', T0 + 1));
      if (withLink) sim.handle('user:kim', event('IdentityLinked', { key: 'anon:v4', userId: 'kim' }, T0 + HOUR));
      sim.handle('user:kim', tracked('Visited', T0 + 2 * HOUR));
      return { started: sim.log.filter((e) => e.person === 'user:kim' && e.type === 'EnrollmentStarted').length, starts: sim.stateOf('user:kim').starts };
    };
    expect(run(false).started).toBe(1);
    const linked = run(true);
    expect(linked.started).toBe(0);
    // The finished welcome from the guest's record, the moved cart enrolment counted once (by its EnrollmentMerged).
    expect(linked.starts).toEqual({ welcome: { at: T0, count: 1 }, cart: { at: T0 + 1, count: 1 } });
  });
});
