/**
 * A generated, deterministic log shaped like the abandoned-cart scenario (checkout, 1 h wait, an
 * email in two variants with a 10% holdout, an SMS nudge), with provider outcomes and goals, and
 * the funnel counted straight from that log for tests to compare ClickHouse with.
 */
import type { NewEvent } from '../event-store/event-store.port';
import { uuidv5 } from '../shared/ids';

export interface GeneratedAppend {
  stream: string;
  events: NewEvent[];
}

const STEPS = ['wait-1h', 'reminder', 'wait-purchase', 'sms-nudge'];

/** A small deterministic PRNG (mulberry32), so every run generates the same log. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function generateScenarioHistory(options: { users: number; workspace?: string; scenarioId?: string; seed?: number; start?: Date }): GeneratedAppend[] {
  const workspace = options.workspace ?? 'default';
  const scenarioId = options.scenarioId ?? 'abandoned-cart';
  const next = random(options.seed ?? 1);
  const start = (options.start ?? new Date('2026-03-02T10:00:00Z')).getTime();
  const appends: GeneratedAppend[] = [];
  for (let u = 0; u < options.users; u++) {
    const userId = `user ${u} 'quoted' ü`;
    const stream = `user-${workspace}:${userId}`;
    const events: NewEvent[] = [];
    // Spread over three days, so the funnel has several enrolment days.
    let at = start + Math.floor(next() * 3) * 86_400_000 + u * 1000;
    const add = (type: string, data: Record<string, unknown>, key: string) => {
      events.push({
        id: uuidv5(`${workspace}|${userId}|${key}`),
        type,
        data,
        metadata: { workspace, occurredAt: new Date(at).toISOString(), receivedAt: new Date(at).toISOString(), schemaVersion: 1 },
      });
      at += 60_000;
    };
    add('Tracked', { event: 'Checkout Started', userId, properties: { cart_id: `cart-${u}`, note: "it's \\ fine" } }, 'checkout');
    const enrollmentId = uuidv5(`${workspace}|${userId}|enrollment`);
    add('EnrollmentStarted', { enrollmentId, scenarioId, version: 1, person: `user:${userId}`, trigger: { eventId: 'x', type: 'Tracked', properties: {} } }, 'enrolled');
    add('TimerScheduled', { timerId: `t-${u}`, enrollmentId, scenarioId, stepId: STEPS[0], purpose: 'wait', dueAt: new Date(at).toISOString() }, 'timer');
    add('TimerFired', { purpose: 'scenario', timerId: `t-${u}`, enrollmentId, dueAt: new Date(at).toISOString() }, 'fired');
    add('StepCompleted', { enrollmentId, scenarioId, stepId: STEPS[0] }, 'wait-done');
    const bucket = next();
    const variant = bucket < 0.1 ? 'holdout' : bucket < 0.55 ? 'plain' : 'discount';
    add('VariantAssigned', { enrollmentId, scenarioId, stepId: 'reminder', variant, bucket, hashVersion: 2, seed: `${scenarioId}:reminder` }, 'variant');
    const emailId = `${enrollmentId}/reminder/0`;
    if (variant === 'holdout') {
      add('MessageSuppressed', { messageId: emailId, enrollmentId, scenarioId, stepId: 'reminder', channel: 'email', reason: 'holdout', variant }, 'held');
    } else {
      add('MessageQueued', { messageId: emailId, enrollmentId, scenarioId, stepId: 'reminder', channel: 'email', template: `cart-${variant}`, variant, transactional: false }, 'queued');
      const roll = next();
      if (roll < 0.05) add('MessageBounced', { messageId: emailId, channel: 'email', reason: 'rejected', code: '550' }, 'bounced');
      else {
        add('MessageSent', { messageId: emailId, channel: 'email', provider: 'smtp', providerMessageId: `p-${u}` }, 'sent');
        if (roll < 0.7) add('MessageDelivered', { messageId: emailId, channel: 'email' }, 'delivered');
        // Opens and clicks can repeat: each is its own event.
        if (roll < 0.5) add('MessageOpened', { messageId: emailId, channel: 'email' }, 'opened-1');
        if (roll < 0.3) add('MessageOpened', { messageId: emailId, channel: 'email' }, 'opened-2');
        if (roll < 0.2) add('MessageClicked', { messageId: emailId, channel: 'email', url: 'https://shop.example/cart' }, 'clicked');
      }
    }
    add('StepCompleted', { enrollmentId, scenarioId, stepId: 'reminder', outcome: variant === 'holdout' ? 'holdout' : 'queued' }, 'reminder-done');
    add('TimerScheduled', { timerId: `w-${u}`, enrollmentId, scenarioId, stepId: STEPS[2], purpose: 'waitFor-timeout', dueAt: new Date(at).toISOString() }, 'wait-purchase');
    const converts = next() < (variant === 'discount' ? 0.4 : variant === 'plain' ? 0.25 : 0.15);
    if (converts) {
      add('Tracked', { event: 'Order Completed', userId, properties: { cart_id: `cart-${u}` } }, 'order');
      add('GoalReached', { enrollmentId, scenarioId, version: 1, eventId: 'order', variants: { reminder: variant }, afterMs: 3_600_000 }, 'goal');
      add('EnrollmentExited', { enrollmentId, scenarioId, reason: 'exit_on', stepId: STEPS[2] }, 'exit');
    } else {
      const smsId = `${enrollmentId}/sms-nudge/0`;
      add('StepCompleted', { enrollmentId, scenarioId, stepId: STEPS[2], outcome: 'timeout' }, 'wait-timeout');
      add('MessageQueued', { messageId: smsId, enrollmentId, scenarioId, stepId: 'sms-nudge', channel: 'sms', template: 'cart-sms', transactional: false }, 'sms-queued');
      add('MessageSent', { messageId: smsId, channel: 'sms', provider: 'twilio', providerMessageId: `s-${u}` }, 'sms-sent');
      if (next() < 0.8) add('MessageDelivered', { messageId: smsId, channel: 'sms' }, 'sms-delivered');
      add('StepCompleted', { enrollmentId, scenarioId, stepId: 'sms-nudge', outcome: 'queued' }, 'sms-done');
      add('EnrollmentExited', { enrollmentId, scenarioId, reason: 'completed' }, 'done');
    }
    appends.push({ stream, events });
  }
  return appends;
}

export type Counts = { entered: number; sent: number; delivered: number; opened: number; clicked: number; converted: number };

/**
 * The funnel counted straight from the log: per `step|variant` (step '' = the scenario), distinct
 * enrolments. A goal converts every step reached before it.
 */
export function funnelFromLog(appends: GeneratedAppend[]): Map<string, Counts> {
  const sets = new Map<string, Record<keyof Counts, Set<string>>>();
  const at = (step: string, variant: string) => {
    const key = `${step}|${variant}`;
    let entry = sets.get(key);
    if (!entry) sets.set(key, (entry = { entered: new Set(), sent: new Set(), delivered: new Set(), opened: new Set(), clicked: new Set(), converted: new Set() }));
    return entry;
  };
  for (const { events } of appends) {
    const variantOf = new Map<string, string>();
    const messages = new Map<string, string>();
    let enrollment = '';
    for (const event of events) {
      const data = event.data as Record<string, string>;
      if (event.type === 'EnrollmentStarted') {
        enrollment = data.enrollmentId;
        at('', '').entered.add(enrollment);
      }
      if (data.stepId) {
        if (event.type === 'VariantAssigned') variantOf.set(data.stepId, data.variant);
        if (!variantOf.has(data.stepId)) variantOf.set(data.stepId, data.variant ?? '');
        at(data.stepId, variantOf.get(data.stepId)!).entered.add(enrollment);
        if (data.messageId) messages.set(data.messageId, data.stepId);
      }
      const stage = { MessageSent: 'sent', MessageDelivered: 'delivered', MessageOpened: 'opened', MessageClicked: 'clicked' }[event.type] as keyof Counts | undefined;
      if (stage) {
        const step = messages.get(data.messageId)!;
        at(step, variantOf.get(step)!)[stage].add(enrollment);
      }
      if (event.type === 'GoalReached') {
        at('', '').converted.add(enrollment);
        for (const [step, variant] of variantOf) at(step, variant).converted.add(enrollment);
      }
    }
  }
  return new Map([...sets].map(([key, entry]) => [key, Object.fromEntries(Object.entries(entry).map(([stage, set]) => [stage, set.size])) as Counts]));
}
