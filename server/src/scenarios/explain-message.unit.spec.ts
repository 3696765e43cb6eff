import type { RecordedEvent } from '../event-store/event-store.port';
import { deliveryOf, explainMessage } from './explain-message';

let position = 0;
/** An event of Ada's history, occurring a minute after the one before. */
const recorded = (type: string, data: Record<string, unknown>): RecordedEvent => {
  position += 1;
  const occurredAt = new Date(Date.UTC(2026, 2, 2, 10, position)).toISOString();
  return { id: `e${position}`, type, data, stream: 'user-default:ada', revision: position, position, recordedAt: occurredAt, metadata: { workspace: 'default', occurredAt } } as unknown as RecordedEvent;
};
const about = (type: string) => recorded(type, { messageId: 'm1' });

describe('explainMessage: where the message got to (delivery)', () => {
  const started = () => {
    const trigger = recorded('Tracked', { event: 'Checkout Started' });
    return [trigger, recorded('EnrollmentStarted', { enrollmentId: 'n1', scenarioId: 'cart', version: 1, trigger: { eventId: trigger.id } })];
  };
  const queued = () => recorded('MessageQueued', { messageId: 'm1', enrollmentId: 'n1', stepId: 'reminder' });

  it('a message queued and sent reads status queued, delivery sent, at the send', () => {
    const sent = about('MessageSent');
    const why = explainMessage([...started(), queued(), about('MessageDispatching'), sent], 'm1');
    expect(why.status).toBe('queued');
    expect(why.delivery).toEqual({ state: 'sent', at: sent.metadata.occurredAt });
  });

  it('a message queued with nothing back yet is pending', () => {
    expect(explainMessage([...started(), queued()], 'm1').delivery).toEqual({ state: 'pending' });
  });

  it('a suppressed message was not sent, whatever came before', () => {
    const history = [...started(), queued(), recorded('MessageSuppressed', { messageId: 'm1', enrollmentId: 'n1', stepId: 'reminder', reason: 'unsubscribed', stage: 'dispatch' })];
    const why = explainMessage(history, 'm1');
    expect(why).toMatchObject({ status: 'suppressed', reason: 'unsubscribed', delivery: { state: 'not_sent' } });
  });
});

describe('deliveryOf', () => {
  it('the strongest outcome wins, in whatever order the reports came', () => {
    const opened = about('MessageOpened');
    expect(deliveryOf('queued', [about('MessageSent'), opened, about('MessageDelivered')])).toEqual({ state: 'opened', at: opened.metadata.occurredAt });
  });

  it('a click outranks an open', () => {
    expect(deliveryOf('queued', [about('MessageSent'), about('MessageClicked'), about('MessageOpened')]).state).toBe('clicked');
  });

  it('a bounce, a failure or a complaint outranks what came before it', () => {
    expect(deliveryOf('queued', [about('MessageSent'), about('MessageBounced')]).state).toBe('bounced');
    expect(deliveryOf('queued', [about('MessageDispatching'), about('MessageRetryScheduled'), about('MessageFailed')]).state).toBe('failed');
    expect(deliveryOf('queued', [about('MessageSent'), about('MessageDelivered'), about('MessageOpened'), about('MessageComplained')]).state).toBe('complained');
  });

  it('a retry that went through reads sent; one still waiting reads retrying', () => {
    expect(deliveryOf('queued', [about('MessageDispatching'), about('MessageRetryScheduled'), about('MessageDispatching'), about('MessageSent')]).state).toBe('sent');
    expect(deliveryOf('queued', [about('MessageDispatching'), about('MessageRetryScheduled')]).state).toBe('retrying');
  });

  it('a call that may or may not have gone through is outcome_unknown', () => {
    expect(deliveryOf('queued', [about('MessageDispatching'), about('MessageOutcomeUnknown')]).state).toBe('outcome_unknown');
  });

  it('an in-app message recorded in the inbox is delivered; reports the state does not know are left out', () => {
    expect(deliveryOf('queued', [about('InAppMessageDelivered'), about('MessageSent'), about('InAppMessageArchived')]).state).toBe('delivered');
  });

  it('a deferred message with nothing back is pending', () => {
    expect(deliveryOf('deferred', [])).toEqual({ state: 'pending' });
  });
});
