/**
 * Issues deep links and handles the `/start <token>` updates Telegram sends back (see
 * telegram-link.ts for the token design). Binding appends `TelegramChatBound` to the person's stream
 * with an id derived from the update, so a redelivered update records nothing new.
 */
import { Logger } from '@nestjs/common';
import { personStream } from '@herald/projections';
import type { Api } from 'grammy';
import { randomBytes } from 'node:crypto';
import { WrongExpectedRevisionError } from '../../event-store/errors';
import type { EventMetadata, EventStore, NewEvent } from '../../event-store/event-store.port';
import type { IdentityService } from '../../identity/identity.service';
import type { Clock } from '../../shared/clock';
import { derivedEventId, uuidv7 } from '../../shared/ids';
import { CONTACT_EVENTS, contactFrom, isUnsubscribed } from '../contact';
import {
  decideStart,
  evolveTelegramLink,
  initialTelegramLinkState,
  START_TOKEN_PATTERN,
  startCommandOf,
  TELEGRAM_LINK_ISSUED,
  TELEGRAM_LINK_USED,
  type StartCommand,
  type TelegramLinkEvent,
  type TelegramLinkIssuedData,
  type TelegramLinkUsedData,
  telegramLinkStream,
} from './telegram-link';

export const TELEGRAM_REPLIES = {
  bound: "You're subscribed: messages will arrive in this chat.",
  hello: 'Hello! To get messages here, open the Telegram link from your account.',
  unknown: 'This link is not valid. Please ask for a new one.',
  expired: 'This link has expired. Please ask for a new one.',
  used: 'This link has already been used. Please ask for a new one.',
} as const;

/** A link is valid for a week: long enough for an email to be read, short enough that a leaked one goes stale. */
export const TELEGRAM_LINK_TTL_SECONDS = 7 * 24 * 3600;

type BindOutcome =
  | { outcome: 'bound'; workspace: string; person: string; chatId: number; recorded: boolean }
  | { outcome: 'rejected'; reason: 'unknown' | 'expired' | 'used' };

export type StartOutcome = { outcome: 'ignored' } | BindOutcome | { outcome: 'rejected'; reason: 'no_token' };

/** The bot could not be reached to learn its username. */
export class TelegramUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TelegramUnavailableError';
  }
}

export class TelegramLinks {
  private readonly logger = new Logger('telegram');
  private readonly botId: string;
  private readonly linkTtlSeconds: number;
  private username?: Promise<string>;

  constructor(
    private readonly store: EventStore,
    private readonly api: Api,
    private readonly identity: IdentityService,
    private readonly clock: Clock,
    options: { botToken: string; linkTtlSeconds?: number },
  ) {
    this.botId = options.botToken.split(':')[0];
    this.linkTtlSeconds = options.linkTtlSeconds ?? TELEGRAM_LINK_TTL_SECONDS;
  }

  /** The bot's username from getMe, asked once (and again after a failure). */
  botUsername(): Promise<string> {
    this.username ??= this.api.getMe().then(
      (me) => me.username,
      (error: unknown) => {
        this.username = undefined;
        throw new TelegramUnavailableError(`Telegram getMe failed: ${(error as Error).message}`);
      },
    );
    return this.username;
  }

  /** A single-use deep link that binds the chat which opens it to the user (canonical id). */
  async issue(workspace: string, userId: string): Promise<{ userId: string; url: string; token: string; expiresAt: string }> {
    const username = await this.botUsername();
    const canonical = this.identity.streamsOf(workspace, userId).userId;
    const token = randomBytes(16).toString('base64url');
    const now = this.clock.now();
    const expiresAt = new Date(now.getTime() + this.linkTtlSeconds * 1000).toISOString();
    const data: TelegramLinkIssuedData = { person: `user:${canonical}`, expiresAt };
    await this.store.append(telegramLinkStream(token), [{ id: uuidv7(now.getTime()), type: TELEGRAM_LINK_ISSUED, data, metadata: this.metadata(workspace) }], {
      expectedRevision: 'no_stream',
    });
    return { userId: canonical, url: `https://t.me/${username}?start=${token}`, token, expiresAt };
  }

  /** Handles one Bot API update; only `/start` messages do anything. Replies are best effort. */
  async handleUpdate(update: unknown): Promise<StartOutcome> {
    const start = startCommandOf(update);
    if (!start) return { outcome: 'ignored' };
    if (start.payload === '') {
      await this.reply(start.chatId, TELEGRAM_REPLIES.hello);
      return { outcome: 'rejected', reason: 'no_token' };
    }
    if (!START_TOKEN_PATTERN.test(start.payload)) {
      await this.reply(start.chatId, TELEGRAM_REPLIES.unknown);
      return { outcome: 'rejected', reason: 'unknown' };
    }
    const result = await this.bind(start);
    await this.reply(start.chatId, result.outcome === 'bound' ? TELEGRAM_REPLIES.bound : TELEGRAM_REPLIES[result.reason], result);
    return result;
  }

  /** Points Telegram's webhook at `url`, with the secret it must send back. */
  async setWebhook(url: string, secret: string): Promise<void> {
    await this.api.setWebhook(url, { secret_token: secret, allowed_updates: ['message'] });
  }

  private async bind(start: StartCommand, attempt = 1): Promise<BindOutcome> {
    const stream = telegramLinkStream(start.payload);
    const history = await this.store.readStream(stream);
    const state = history.reduce((s, event) => evolveTelegramLink(s, event as unknown as TelegramLinkEvent), initialTelegramLinkState());
    const update = `${this.botId}:${start.updateId}`;
    const decision = decideStart(state, { update, now: this.clock.now() });
    if (decision.kind === 'rejected') return { outcome: 'rejected', reason: decision.reason };

    const cause = `telegram-update:${update}`;
    const usedId = derivedEventId(cause, 'telegram-start', 'link-used');
    if (decision.firstUse) {
      const used: TelegramLinkUsedData = { chatId: start.chatId, update };
      try {
        await this.store.append(stream, [{ id: usedId, type: TELEGRAM_LINK_USED, data: used, metadata: this.metadata(decision.workspace, history[0].id) }], {
          expectedRevision: history[history.length - 1].revision,
        });
      } catch (error) {
        // Another chat used the link at the same moment: decide again on the new history.
        if (error instanceof WrongExpectedRevisionError && attempt < 3) return this.bind(start, attempt + 1);
        throw error;
      }
    }

    const personStreamName = personStream(decision.workspace, decision.person);
    const contact = contactFrom(await this.store.readStream(personStreamName));
    const metadata = this.metadata(decision.workspace, usedId);
    const events: NewEvent[] = [
      {
        id: derivedEventId(cause, 'telegram-start', 'bound'),
        type: CONTACT_EVENTS.telegramBound,
        data: { chatId: start.chatId, ...(start.username ? { username: start.username } : {}) },
        metadata,
      },
    ];
    // Pressing Start on a new link is an explicit opt-in: it lifts an earlier unsubscribe (e.g. after the bot was blocked).
    if (isUnsubscribed(contact, 'telegram')) {
      events.push({
        id: derivedEventId(cause, 'telegram-start', 'resubscribed'),
        type: CONTACT_EVENTS.subscribed,
        data: { channel: 'telegram', source: 'telegram_start' },
        metadata,
      });
    }
    const appended = await this.store.append(personStreamName, events);
    return { outcome: 'bound', workspace: decision.workspace, person: decision.person, chatId: start.chatId, recorded: appended.appended > 0 };
  }

  private async reply(chatId: number, text: string, result?: StartOutcome): Promise<void> {
    // A redelivered update that changed nothing was already answered.
    if (result?.outcome === 'bound' && !result.recorded) return;
    try {
      await this.api.sendMessage(chatId, text);
    } catch (error) {
      this.logger.warn(`Could not reply to Telegram chat ${chatId}: ${(error as Error).message}`);
    }
  }

  private metadata(workspace: string, causationId?: string): EventMetadata {
    const now = this.clock.now().toISOString();
    return { workspace, occurredAt: now, receivedAt: now, schemaVersion: 1, ...(causationId ? { causationId, correlationId: causationId } : {}) };
  }
}
