import { startUpdate } from './local-bot-api.fixture';
import {
  decideStart,
  evolveTelegramLink,
  initialTelegramLinkState,
  START_TOKEN_PATTERN,
  startCommandOf,
  TELEGRAM_LINK_ISSUED,
  TELEGRAM_LINK_USED,
  type TelegramLinkEvent,
  telegramLinkStream,
} from './telegram-link';

const issued: TelegramLinkEvent = {
  type: TELEGRAM_LINK_ISSUED,
  data: { person: 'user:ada', expiresAt: '2026-01-08T00:00:00.000Z' },
  metadata: { workspace: 'default' },
};
const usedBy = (update: string): TelegramLinkEvent => ({ type: TELEGRAM_LINK_USED, data: { chatId: 42, update }, metadata: { workspace: 'default' } });
const fold = (...events: TelegramLinkEvent[]) => events.reduce(evolveTelegramLink, initialTelegramLinkState());
const now = new Date('2026-01-02T00:00:00Z');

describe('telegram deep links', () => {
  it('given an issued link, when /start comes with it, then the chat binds to the person', () => {
    expect(decideStart(fold(issued), { update: '7:1', now })).toEqual({ kind: 'bind', workspace: 'default', person: 'user:ada', firstUse: true });
  });

  it('given a link used by update 7:1, a redelivery of 7:1 binds again (idempotently) and any other update is refused', () => {
    const state = fold(issued, usedBy('7:1'));
    expect(decideStart(state, { update: '7:1', now })).toEqual({ kind: 'bind', workspace: 'default', person: 'user:ada', firstUse: false });
    expect(decideStart(state, { update: '7:2', now })).toEqual({ kind: 'rejected', reason: 'used' });
    // The first use wins even if a second one were ever recorded.
    expect(fold(issued, usedBy('7:1'), usedBy('7:9')).used?.update).toBe('7:1');
  });

  it('refuses unknown and expired links', () => {
    expect(decideStart(fold(), { update: '7:1', now })).toEqual({ kind: 'rejected', reason: 'unknown' });
    expect(decideStart(fold(issued), { update: '7:1', now: new Date('2026-01-08T00:00:00Z') })).toEqual({ kind: 'rejected', reason: 'expired' });
  });

  it('names the link stream by a hash, so the token never enters the log', () => {
    const token = 'AbC_dEf-0123456789abcd';
    expect(START_TOKEN_PATTERN.test(token)).toBe(true);
    expect(telegramLinkStream(token)).toMatch(/^telegramlink-[0-9a-f]{64}$/);
    expect(telegramLinkStream(token)).not.toContain(token);
  });

  it('reads /start commands with a bot_command entity, in private chats and groups', () => {
    expect(startCommandOf(startUpdate(5, 42, 'tok_en'))).toEqual({ updateId: 5, chatId: 42, chatType: 'private', username: 'ada_tg', payload: 'tok_en' });
    expect(startCommandOf(startUpdate(6, 42, ''))).toMatchObject({ payload: '' });
    const group = startUpdate(7, -100, 'x') as { message: Record<string, any> };
    group.message.text = '/start@herald_test_bot x';
    group.message.entities = [{ type: 'bot_command', offset: 0, length: 22 }];
    group.message.chat = { id: -100, type: 'group', title: 'Team' };
    delete group.message.from;
    expect(startCommandOf(group)).toEqual({ updateId: 7, chatId: -100, chatType: 'group', payload: 'x' });
  });

  it('ignores what is not a /start command', () => {
    const plain = startUpdate(8, 42, 'x') as { message: Record<string, any> };
    plain.message.entities = [];
    expect(startCommandOf(plain)).toBeUndefined();
    const help = startUpdate(9, 42, '') as { message: Record<string, any> };
    help.message.text = '/help';
    help.message.entities = [{ type: 'bot_command', offset: 0, length: 5 }];
    expect(startCommandOf(help)).toBeUndefined();
    const laterCommand = startUpdate(10, 42, 'x') as { message: Record<string, any> };
    laterCommand.message.entities = [{ type: 'bot_command', offset: 3, length: 6 }];
    expect(startCommandOf(laterCommand)).toBeUndefined();
    expect(startCommandOf({ update_id: 11, edited_message: {} })).toBeUndefined();
    expect(startCommandOf(null)).toBeUndefined();
    expect(startCommandOf({ message: { text: '/start x' } })).toBeUndefined();
  });
});
