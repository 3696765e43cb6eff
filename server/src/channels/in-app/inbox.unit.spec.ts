import { IN_APP_EVENTS, type InboxRecord, inboxFrom, inboxView } from './inbox';
import { decideInbox, InAppMessageNotFoundError } from './inbox.commands';

let position = 0;
const at = (minute: number) => `2026-01-01T10:${String(minute).padStart(2, '0')}:00.000Z`;
const delivered = (messageId: string, minute = 0, url?: string): InboxRecord => ({
  type: IN_APP_EVENTS.delivered,
  data: { messageId, title: `Title ${messageId}`, body: `Body ${messageId}`, ...(url ? { url } : {}) },
  metadata: { occurredAt: at(minute) },
  position: ++position,
});
const read = (messageId: string): InboxRecord => ({ type: IN_APP_EVENTS.read, data: { messageId }, metadata: { occurredAt: at(59) }, position: ++position });
const archived = (messageId: string): InboxRecord => ({ type: IN_APP_EVENTS.archived, data: { messageId }, metadata: { occurredAt: at(59) }, position: ++position });
const other = { type: 'Tracked', data: { event: 'Checkout Started' }, metadata: { occurredAt: at(0) }, position: ++position };

describe('inbox fold', () => {
  it('lists delivered messages newest first, counts unread, hides archived ones unless asked', () => {
    const state = inboxFrom([delivered('a', 1, 'https://app/a'), other, delivered('b', 2), delivered('c', 3), read('a'), archived('b')]);
    expect(inboxView(state)).toEqual({
      messages: [
        { messageId: 'c', title: 'Title c', body: 'Body c', deliveredAt: at(3), read: false, archived: false },
        { messageId: 'a', title: 'Title a', body: 'Body a', url: 'https://app/a', deliveredAt: at(1), read: true, archived: false },
      ],
      unread: 1,
    });
    expect(inboxView(state, { archived: true }).messages.map((m) => [m.messageId, m.archived])).toEqual([
      ['c', false],
      ['b', true],
      ['a', false],
    ]);
    expect(inboxView(state, { limit: 1 }).messages.map((m) => m.messageId)).toEqual(['c']);
  });

  it('ignores a repeated delivery and actions on messages it never saw', () => {
    const state = inboxFrom([delivered('a', 1), read('a'), delivered('a', 5), read('ghost'), archived('ghost')]);
    expect(inboxView(state, { archived: true })).toEqual({
      messages: [{ messageId: 'a', title: 'Title a', body: 'Body a', deliveredAt: at(1), read: true, archived: false }],
      unread: 0,
    });
  });
});

describe('inbox decisions', () => {
  it('reading records the read and the open once', () => {
    const state = inboxFrom([delivered('m/1')]);
    expect(decideInbox({ type: 'MarkInAppMessageRead', messageId: 'm/1' }, state)).toEqual([
      { type: 'InAppMessageRead', data: { messageId: 'm/1' } },
      {
        type: 'MessageOpened',
        data: { messageId: 'm/1', channel: 'in_app', provider: 'in-app', providerMessageId: 'inapp:m/1', source: 'in_app_read' },
      },
    ]);
    expect(decideInbox({ type: 'MarkInAppMessageRead', messageId: 'm/1' }, inboxFrom([delivered('m/1'), read('m/1')]))).toEqual([]);
  });

  it('archiving records once; an unknown message is an error', () => {
    expect(decideInbox({ type: 'ArchiveInAppMessage', messageId: 'x' }, inboxFrom([delivered('x')]))).toEqual([
      { type: 'InAppMessageArchived', data: { messageId: 'x' } },
    ]);
    expect(decideInbox({ type: 'ArchiveInAppMessage', messageId: 'x' }, inboxFrom([delivered('x'), archived('x')]))).toEqual([]);
    expect(() => decideInbox({ type: 'ArchiveInAppMessage', messageId: 'y' }, inboxFrom([delivered('x')]))).toThrow(InAppMessageNotFoundError);
  });
});
