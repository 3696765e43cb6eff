/** Telegram through the Bot API (grammy's client; `TELEGRAM_API_URL` replaces api.telegram.org). */
import { Api, GrammyError, HttpError } from 'grammy';
import { type ChannelAdapter, type Contact, type Delivery, OutcomeUnknownDeliveryError, PermanentDeliveryError, retryAfterSeconds, type SendResult, TransientDeliveryError } from '../channel.port';

export interface TelegramSettings {
  botToken: string;
  apiUrl?: string;
  webhookSecret?: string;
}

export function createTelegramApi(settings: Pick<TelegramSettings, 'botToken' | 'apiUrl'>, timeoutSeconds = 30): Api {
  return new Api(settings.botToken, { apiRoot: settings.apiUrl?.replace(/\/$/, ''), timeoutSeconds });
}

/** Network errors raised before a request can have reached Telegram: repeating them cannot duplicate a message. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

export class TelegramAdapter implements ChannelAdapter {
  readonly channel = 'telegram' as const;
  readonly provider = 'telegram';
  /** The Bot API has no idempotency key: a repeated sendMessage is a second message in the chat. */
  readonly safeToRetry = false;

  constructor(private readonly api: Api) {}

  address(contact: Contact): string | undefined {
    return contact.telegramChatId === undefined ? undefined : String(contact.telegramChatId);
  }

  async send(delivery: Delivery): Promise<SendResult> {
    const chatId = Number(delivery.to);
    if (!Number.isSafeInteger(chatId)) throw new PermanentDeliveryError(`Not a Telegram chat id: ${delivery.to}`, 'telegram_bad_chat_id');
    try {
      const message = await this.api.sendMessage(chatId, messageText(delivery));
      // `ok: true` without the Message (a proxy or a broken server): Telegram may have sent it.
      if (typeof message?.chat?.id !== 'number' || typeof message.message_id !== 'number') {
        throw new TelegramOutcomeUnknownError('Telegram answered ok without the sent message; it may have been sent, so it is not retried');
      }
      return { providerMessageId: `${message.chat.id}:${message.message_id}` };
    } catch (error) {
      throw telegramDeliveryError(error);
    }
  }
}

/** The text, with the message's link added when the template did not include it (plain text: no parse mode to get wrong). */
function messageText(delivery: Delivery): string {
  const { text, url } = delivery.content;
  return url && !text.includes(url) ? `${text}\n\n${url}` : text;
}

/**
 * Sent or not is unknown: the request may have reached Telegram. The dispatcher records
 * `MessageOutcomeUnknown` and does not repeat it, as for email and Twilio.
 */
export class TelegramOutcomeUnknownError extends OutcomeUnknownDeliveryError {
  constructor(message: string) {
    super(message);
    this.name = 'TelegramOutcomeUnknownError';
  }
}

/**
 * 403 (blocked by the user, kicked from the group, user deactivated): the chat is gone, unsubscribe.
 * 429 (flood control: not processed) and failures to connect: retry later. Other 4xx (400 chat not
 * found, text too long): permanent. 5xx, timeouts, dropped connections and answers that are not the
 * Bot API's: the message may have been sent, and the channel is not safe to retry.
 */
export function telegramDeliveryError(error: unknown): Error {
  if (error instanceof GrammyError) {
    const code = error.error_code;
    if (code === 403) return new PermanentDeliveryError(error.description, 'telegram_403', true);
    if (code === 429) return new TransientDeliveryError(`Telegram ${code}: ${error.description}`, retryAfterSeconds(error.parameters.retry_after));
    if (code >= 500) return new TelegramOutcomeUnknownError(`Telegram ${code}: ${error.description}; the message may have been sent, so it is not retried`);
    return new PermanentDeliveryError(error.description, `telegram_${code}`);
  }
  if (error instanceof HttpError) {
    const cause = error.error as { code?: unknown } | undefined;
    if (typeof cause?.code === 'string' && NOT_SENT.has(cause.code)) return new TransientDeliveryError(`${error.message} (${cause.code})`);
    return new TelegramOutcomeUnknownError(`${error.message}; the message may have been sent, so it is not retried`);
  }
  return error instanceof Error ? error : new Error(String(error));
}
