// Generated abandoned-cart histories for bench:analytics: per person a checkout, an enrolment, a 1 h
// wait, an email in two variants with a 10% holdout and its provider outcomes, then an order (the
// goal) or an SMS nudge. About 17 events per person, spread over 30 days. Deterministic (seeded).

const STEPS = ['wait-1h', 'reminder', 'wait-purchase', 'sms-nudge'];
const DAY = 86_400_000;

function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A cheap deterministic UUID-shaped id (uniqueness is all the sink needs). */
function idOf(n) {
  const hex = n.toString(16).padStart(20, '0');
  return `00000000-${hex.slice(0, 4)}-4${hex.slice(5, 8)}-8${hex.slice(9, 12)}-${hex.slice(8, 20)}`;
}

/**
 * Yields `{ stream, events }` per person (events as NewEvent: id, type, data, metadata). `personOffset`
 * lets several runs generate different people.
 */
export function* abandonedCartHistories({ people, seed = 1, start = Date.parse('2026-03-01T00:00:00Z'), personOffset = 0, workspace = 'default' }) {
  const next = random(seed);
  let counter = personOffset * 64;
  for (let p = personOffset; p < personOffset + people; p++) {
    const userId = `user-${p}`;
    const stream = `user-${workspace}:${userId}`;
    const events = [];
    let at = start + Math.floor(next() * 30) * DAY + Math.floor(next() * DAY);
    const add = (type, data) => {
      const iso = new Date(at).toISOString();
      events.push({ id: idOf(counter++), type, data, metadata: { workspace, occurredAt: iso, receivedAt: iso, schemaVersion: 1 } });
      at += 60_000;
    };
    add('Identified', { userId, traits: { email: `${userId}@example.test`, first_name: 'Ada' } });
    add('Tracked', { userId, event: 'Checkout Started', properties: { cart_id: `cart-${p}`, value: 42.5 } });
    const enrollmentId = idOf(1e12 + p);
    const scenarioId = 'abandoned-cart';
    add('EnrollmentStarted', { enrollmentId, scenarioId, version: 1, person: `user:${userId}`, trigger: { eventId: 'x', type: 'Tracked', properties: {} } });
    add('TimerScheduled', { timerId: `t-${p}`, enrollmentId, scenarioId, stepId: STEPS[0], purpose: 'wait', dueAt: new Date(at).toISOString() });
    add('TimerFired', { purpose: 'scenario', timerId: `t-${p}`, enrollmentId, dueAt: new Date(at).toISOString() });
    add('StepCompleted', { enrollmentId, scenarioId, stepId: STEPS[0] });
    const bucket = next();
    const variant = bucket < 0.1 ? 'holdout' : bucket < 0.55 ? 'plain' : 'discount';
    add('VariantAssigned', { enrollmentId, scenarioId, stepId: 'reminder', variant, bucket, hashVersion: 2, seed: `${scenarioId}:reminder` });
    const emailId = `${enrollmentId}/reminder/0`;
    if (variant === 'holdout') {
      add('MessageSuppressed', { messageId: emailId, enrollmentId, scenarioId, stepId: 'reminder', channel: 'email', reason: 'holdout', variant });
    } else {
      add('MessageQueued', { messageId: emailId, enrollmentId, scenarioId, stepId: 'reminder', channel: 'email', template: `cart-${variant}`, variant, transactional: false });
      const roll = next();
      if (roll < 0.05) add('MessageBounced', { messageId: emailId, channel: 'email', reason: 'rejected', code: '550' });
      else {
        add('MessageSent', { messageId: emailId, channel: 'email', provider: 'smtp', providerMessageId: `p-${p}` });
        if (roll < 0.5) add('MessageOpened', { messageId: emailId, channel: 'email' });
        if (roll < 0.2) add('MessageClicked', { messageId: emailId, channel: 'email', url: 'https://shop.example/cart' });
      }
    }
    add('StepCompleted', { enrollmentId, scenarioId, stepId: 'reminder', outcome: variant === 'holdout' ? 'holdout' : 'queued' });
    add('TimerScheduled', { timerId: `w-${p}`, enrollmentId, scenarioId, stepId: STEPS[2], purpose: 'waitFor-timeout', dueAt: new Date(at).toISOString() });
    if (next() < (variant === 'discount' ? 0.4 : variant === 'plain' ? 0.25 : 0.15)) {
      add('Tracked', { userId, event: 'Order Completed', properties: { cart_id: `cart-${p}` } });
      add('GoalReached', { enrollmentId, scenarioId, version: 1, eventId: 'order', variants: { reminder: variant }, afterMs: 3_600_000 });
      add('EnrollmentExited', { enrollmentId, scenarioId, reason: 'exit_on', stepId: STEPS[2] });
    } else {
      const smsId = `${enrollmentId}/sms-nudge/0`;
      add('StepCompleted', { enrollmentId, scenarioId, stepId: STEPS[2], outcome: 'timeout' });
      add('MessageQueued', { messageId: smsId, enrollmentId, scenarioId, stepId: 'sms-nudge', channel: 'sms', template: 'cart-sms', transactional: false });
      add('MessageSent', { messageId: smsId, channel: 'sms', provider: 'twilio', providerMessageId: `s-${p}` });
      if (next() < 0.8) add('MessageDelivered', { messageId: smsId, channel: 'sms' });
      add('EnrollmentExited', { enrollmentId, scenarioId, reason: 'completed' });
    }
    yield { stream, events };
  }
}

/** Turns generated appends into RecordedEvent-shaped objects with consecutive positions (for rows without a log). */
export function* recorded(histories, firstPosition = 1) {
  let position = firstPosition;
  for (const { stream, events } of histories) {
    let revision = 0;
    for (const event of events) {
      yield { ...event, stream, revision: revision++, position: position++, recordedAt: event.metadata.occurredAt };
    }
  }
}
