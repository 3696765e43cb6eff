import type { RecordedEvent } from '../../event-store/event-store.port';
import { contactFrom } from '../contact';
import { decideLift, NotSuppressedError, suppressionOf, UnknownChannelError } from './suppressions';

let position = 0;
const event = (type: string, data: Record<string, unknown>, id = `e${position + 1}`): RecordedEvent => {
  position += 1;
  return {
    id,
    type,
    data,
    stream: 'user-default:ada',
    revision: position,
    position,
    recordedAt: '2026-03-02T10:00:00.000Z',
    metadata: { workspace: 'default', occurredAt: `2026-03-02T10:00:${String(position).padStart(2, '0')}.000Z`, receivedAt: '', schemaVersion: 1 },
  } as RecordedEvent;
};
const dispatched = (messageId: string, channel: string, to: string) => event('MessageDispatching', { messageId, channel, to, attempt: 1, provider: 'x' });

beforeEach(() => (position = 0));

describe('suppression list folded from the stream', () => {
  it('a bounce at send time suppresses the address it was sent to, case-insensitively, and only that address', () => {
    const { suppressions } = contactFrom([
      dispatched('m1', 'email', 'Ada@Example.com'),
      event('MessageBounced', { messageId: 'm1', channel: 'email', reason: 'rejected', code: 'smtp_550' }, 'bounce-1'),
    ]);
    expect(suppressionOf(suppressions, 'email', 'ada@example.com')).toMatchObject({ address: 'Ada@Example.com', eventId: 'bounce-1', messageId: 'm1', code: 'smtp_550' });
    expect(suppressionOf(suppressions, 'email', 'ada@new.example')).toBeUndefined();
    expect(suppressionOf(suppressions, 'sms', 'Ada@Example.com')).toBeUndefined();
  });

  it('a DSN suppresses when permanent (5.x.x), not when it says 4.x.x', () => {
    const permanent = contactFrom([
      dispatched('m1', 'email', 'ada@example.com'),
      event('MessageSent', { messageId: 'm1', channel: 'email', to: 'ada@example.com' }),
      event('MessageBounced', { messageId: 'm1', channel: 'email', reason: 'dsn', code: 'smtp_5.1.1', permanent: true }),
    ]);
    expect(suppressionOf(permanent.suppressions, 'email', 'ada@example.com')).toBeDefined();
    const transient = contactFrom([
      dispatched('m1', 'email', 'ada@example.com'),
      event('MessageBounced', { messageId: 'm1', channel: 'email', reason: 'dsn', code: 'smtp_4.4.7', permanent: false }),
    ]);
    expect(suppressionOf(transient.suppressions, 'email', 'ada@example.com')).toBeUndefined();
  });

  it('Twilio codes for a dead number suppress it on that channel; STOP, a switched-off handset and other failures do not', () => {
    const failed = (messageId: string, code: string, channel = 'sms') => [
      dispatched(messageId, channel, `+4915100000${messageId.slice(1)}`),
      event('MessageFailed', { messageId, channel, reason: 'rejected', code }),
    ];
    const { suppressions } = contactFrom([
      ...failed('m1', 'twilio_21211'),
      ...failed('m2', 'twilio_30005'),
      ...failed('m3', 'twilio_21610'),
      ...failed('m4', 'twilio_30003'),
      ...failed('m5', 'smtp_550'),
      ...failed('m6', 'twilio_21614', 'whatsapp'),
    ]);
    expect([...suppressions.suppressed.values()].map((s) => [s.channel, s.address, s.code])).toEqual([
      ['sms', '+49151000001', 'twilio_21211'],
      ['sms', '+49151000002', 'twilio_30005'],
      ['whatsapp', '+49151000006', 'twilio_21614'],
    ]);
  });

  it('AddressUnsuppressed lifts it; a later bounce of the same address suppresses again', () => {
    const history = [
      dispatched('m1', 'email', 'ada@example.com'),
      event('MessageBounced', { messageId: 'm1', channel: 'email', reason: 'rejected', code: 'smtp_550' }, 'bounce-1'),
      event('AddressUnsuppressed', { channel: 'email', address: 'ada@example.com', suppressedBy: 'bounce-1', source: 'admin' }),
    ];
    expect(suppressionOf(contactFrom(history).suppressions, 'email', 'ada@example.com')).toBeUndefined();
    history.push(dispatched('m2', 'email', 'ada@example.com'), event('MessageBounced', { messageId: 'm2', channel: 'email', reason: 'rejected', code: 'smtp_550' }, 'bounce-2'));
    expect(suppressionOf(contactFrom(history).suppressions, 'email', 'ada@example.com')).toMatchObject({ eventId: 'bounce-2' });
  });

  it('decideLift: every suppressed address on the channel; an unknown channel or nothing to lift is an error', () => {
    const { suppressions } = contactFrom([
      dispatched('m1', 'email', 'old@example.com'),
      event('MessageBounced', { messageId: 'm1', channel: 'email', reason: 'rejected' }, 'b1'),
      dispatched('m2', 'email', 'new@example.com'),
      event('MessageBounced', { messageId: 'm2', channel: 'email', reason: 'rejected' }, 'b2'),
    ]);
    expect(decideLift(suppressions, 'email', 'user ada')).toEqual([
      { channel: 'email', address: 'old@example.com', suppressedBy: 'b1', source: 'admin' },
      { channel: 'email', address: 'new@example.com', suppressedBy: 'b2', source: 'admin' },
    ]);
    expect(() => decideLift(suppressions, 'fax', 'user ada')).toThrow(UnknownChannelError);
    expect(() => decideLift(suppressions, 'sms', 'user ada')).toThrow(new NotSuppressedError('No sms address of user ada is suppressed'));
  });
});
