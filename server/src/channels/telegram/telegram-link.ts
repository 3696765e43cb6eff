/**
 * Binding a Telegram chat to a person with a deep link (`https://t.me/<bot>?start=<token>`).
 *
 * Telegram passes the start parameter back in the `/start <token>` message, and allows only
 * [A-Za-z0-9_-] and 64 characters there: too short for a signed workspace + user id (user ids are
 * arbitrary strings). So the token is a random 128-bit nonce (22 characters), and the link lives in
 * the log as a small stream of its own, named by the SHA-256 of the nonce:
 * `TelegramLinkIssued { person, expiresAt }` and, once used, `TelegramLinkUsed { chatId, update }`.
 * Looking a token up is one stream read; there is no table to rebuild, only the hash is stored (the
 * log and the analytics copy of it never hold a usable token), and the stream is the consistency
 * boundary that makes a link single-use.
 */
import { createHash } from 'node:crypto';

export const TELEGRAM_LINK_ISSUED = 'TelegramLinkIssued';
export const TELEGRAM_LINK_USED = 'TelegramLinkUsed';

/** What Telegram accepts as a start parameter. */
export const START_TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export interface TelegramLinkIssuedData {
  /** Identity key of the person (`user:<id>`). */
  person: string;
  expiresAt: string;
}

export interface TelegramLinkUsedData {
  chatId: number;
  /** `<bot id>:<update_id>` of the `/start` message that used it. */
  update: string;
}

export type TelegramLinkEvent =
  | { type: typeof TELEGRAM_LINK_ISSUED; data: TelegramLinkIssuedData; metadata: { workspace: string } }
  | { type: typeof TELEGRAM_LINK_USED; data: TelegramLinkUsedData; metadata: { workspace: string } };

export interface TelegramLinkState {
  issued?: { workspace: string; person: string; expiresAt: string };
  used?: TelegramLinkUsedData;
}

export const initialTelegramLinkState = (): TelegramLinkState => ({});

export function evolveTelegramLink(state: TelegramLinkState, event: TelegramLinkEvent): TelegramLinkState {
  switch (event.type) {
    case TELEGRAM_LINK_ISSUED:
      return { ...state, issued: { workspace: event.metadata.workspace, person: event.data.person, expiresAt: event.data.expiresAt } };
    case TELEGRAM_LINK_USED:
      return state.used ? state : { ...state, used: event.data };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

/** The stream of one deep link; the token itself never enters the log. */
export function telegramLinkStream(token: string): string {
  return `telegramlink-${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

export type StartDecision =
  | { kind: 'bind'; workspace: string; person: string; /** false when this very update already used the link (a redelivery). */ firstUse: boolean }
  | { kind: 'rejected'; reason: 'unknown' | 'expired' | 'used' };

/** Whether a `/start <token>` (update `update`) may bind its chat, given the link's history. */
export function decideStart(state: TelegramLinkState, command: { update: string; now: Date }): StartDecision {
  const { issued, used } = state;
  if (!issued) return { kind: 'rejected', reason: 'unknown' };
  if (used) {
    return used.update === command.update
      ? { kind: 'bind', workspace: issued.workspace, person: issued.person, firstUse: false }
      : { kind: 'rejected', reason: 'used' };
  }
  if (Date.parse(issued.expiresAt) <= command.now.getTime()) return { kind: 'rejected', reason: 'expired' };
  return { kind: 'bind', workspace: issued.workspace, person: issued.person, firstUse: true };
}

/** A `/start` command found in a Bot API update. */
export interface StartCommand {
  updateId: number;
  chatId: number;
  chatType: string;
  username?: string;
  /** The deep-link parameter, '' for a bare `/start`. */
  payload: string;
}

/**
 * The `/start` command of an update, if it is one: a message whose text opens with a `bot_command`
 * entity `/start` (or `/start@<bot>` in groups). Anything else is not ours to handle.
 */
export function startCommandOf(update: unknown): StartCommand | undefined {
  if (!isObject(update) || !Number.isSafeInteger(update.update_id)) return undefined;
  const message = update.message;
  if (!isObject(message) || typeof message.text !== 'string' || !isObject(message.chat) || !Number.isSafeInteger(message.chat.id)) return undefined;
  const entities = Array.isArray(message.entities) ? message.entities : [];
  const command = entities.find((entity): entity is { type: string; offset: number; length: number } =>
    isObject(entity) && entity.type === 'bot_command' && entity.offset === 0 && Number.isInteger(entity.length),
  );
  if (!command) return undefined;
  const name = message.text.slice(1, command.length).split('@')[0];
  if (name !== 'start') return undefined;
  const from = isObject(message.from) ? message.from : undefined;
  const username = typeof from?.username === 'string' ? from.username : typeof message.chat.username === 'string' ? message.chat.username : undefined;
  return {
    updateId: update.update_id as number,
    chatId: message.chat.id as number,
    chatType: typeof message.chat.type === 'string' ? message.chat.type : 'private',
    ...(username ? { username } : {}),
    payload: message.text.slice(command.length).trim(),
  };
}

function isObject(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
