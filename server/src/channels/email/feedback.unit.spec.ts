import type { RecordedEvent } from '../../event-store/event-store.port';
import { decideFeedback, UnknownMessageError } from './feedback';
import type { MailReport } from './feedback-report';
import { headerBlocks } from './feedback-report';

let position = 0;
const recorded = (type: string, data: Record<string, unknown>): RecordedEvent =>
  ({ id: `e${++position}`, type, data, stream: 'user-default-ada', revision: position, position, metadata: { workspace: 'default' } }) as unknown as RecordedEvent;
const sent = [recorded('MessageDispatching', { messageId: 'm1', attempt: 1 }), recorded('MessageSent', { messageId: 'm1' })];
const original = { heraldMessageId: 'm1' };
const complaint = (feedbackType: string): MailReport => ({ kind: 'feedback', feedbackType, original });

describe('decideFeedback', () => {
  it('a complaint: MessageComplained and an email unsubscribe', () => {
    const decision = decideFeedback(complaint('abuse'), 'm1', sent);
    expect(decision).toEqual({
      kind: 'record',
      changes: [
        { key: 'complained', type: 'MessageComplained', data: { messageId: 'm1', channel: 'email', source: 'arf', feedbackType: 'abuse' } },
        { key: 'unsubscribed', type: 'Unsubscribed', data: { channel: 'email', source: 'complaint', messageId: 'm1' } },
      ],
    });
  });

  it('a complaint from someone already unsubscribed from email: only MessageComplained', () => {
    const decision = decideFeedback(complaint('abuse'), 'm1', [...sent, recorded('Unsubscribed', { channel: 'email', source: 'page' })]);
    expect(decision.kind === 'record' && decision.changes.map((c) => c.type)).toEqual(['MessageComplained']);
  });

  it('not-spam is no complaint', () => {
    expect(decideFeedback(complaint('not-spam'), 'm1', sent)).toMatchObject({ kind: 'ignored' });
  });

  it('a report about a message the person was never sent', () => {
    expect(() => decideFeedback(complaint('abuse'), 'm2', sent)).toThrow(UnknownMessageError);
    expect(() => decideFeedback(complaint('abuse'), 'm1', [recorded('MessageQueued', { messageId: 'm1' })])).toThrow(UnknownMessageError);
  });

  it('a DSN: failed is a bounce (permanent for 5.x.x), once; anything else is ignored', () => {
    const dsn = (action: string, status: string): MailReport => ({ kind: 'delivery-status', recipients: [{ action, status, recipient: 'ada@example.com' }], original });
    expect(decideFeedback(dsn('failed', '4.4.7'), 'm1', sent)).toMatchObject({
      kind: 'record',
      changes: [{ key: 'bounced', type: 'MessageBounced', data: { code: 'smtp_4.4.7', permanent: false, reason: 'dsn' } }],
    });
    expect(decideFeedback(dsn('delivered', '2.0.0'), 'm1', sent)).toMatchObject({ kind: 'ignored' });
    expect(decideFeedback(dsn('failed', '5.1.1'), 'm1', [...sent, recorded('MessageBounced', { messageId: 'm1' })])).toMatchObject({ kind: 'ignored' });
  });
});

describe('headerBlocks', () => {
  it('reads RFC 3464 field groups with folded lines', () => {
    const [perMessage, recipient] = headerBlocks('Reporting-MTA: dns; relay\r\n\r\nFinal-Recipient: rfc822;\r\n  ada@example.com\r\nAction: failed\r\n');
    expect(perMessage.get('reporting-mta')).toBe('dns; relay');
    expect(recipient.get('final-recipient')).toBe('rfc822; ada@example.com');
    expect(recipient.get('action')).toBe('failed');
  });
});
