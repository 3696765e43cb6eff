/**
 * SMS and WhatsApp through Twilio's Messages API, with the official `twilio` client. One class serves
 * both channels; they differ only in the `whatsapp:` prefix on the addresses and in the sender.
 *
 * Not safe to retry: `Messages.create` has no idempotency key, so a call whose answer was lost may
 * have sent the message. Errors are split accordingly: only answers that prove Twilio created nothing
 * (a 4xx, 429, 503, or a connection that was never made) are permanent or transient; a 5xx other
 * than 503, a timeout, a reset connection or an unreadable answer leaves the outcome unknown and is
 * never retried here.
 */
import twilio from 'twilio';
import type { HeraldConfig } from '../../config';
import { OutcomeUnknownDeliveryError, type ChannelAdapter, type Contact, type Delivery, PermanentDeliveryError, type SendResult, TransientDeliveryError } from '../channel.port';
import { E164, statusCallbackUrl, type TwilioChannel, twilioAddress } from './twilio-callbacks';

export type TwilioClient = ReturnType<typeof twilio>;
export type TwilioSettings = NonNullable<HeraldConfig['channels']['twilio']>;

/** The real client; with `apiUrl` (TWILIO_API_URL) every Messages call goes there instead of api.twilio.com. */
export function createTwilioClient(settings: TwilioSettings): TwilioClient {
  const client = twilio(settings.accountSid, settings.authToken, { autoRetry: false, timeout: 30_000 });
  // Messages.create resolves its URL as client.api.baseUrl + /2010-04-01/Accounts/{sid}/Messages.json
  // (rest/ApiBase -> base/Domain.absoluteUrl). Edge and region stay unset: they would rewrite the host.
  if (settings.apiUrl) client.api.baseUrl = settings.apiUrl.replace(/\/+$/, '');
  return client;
}

/** Twilio error codes after which the number will not work for this sender again. */
const UNREACHABLE_CODES = new Set([
  21211, // invalid 'To' phone number
  21610, // the recipient replied STOP to this sender
  21614, // 'To' is not a mobile number (SMS to a landline)
]);

/** Connection failures that happen before a request is sent, so Twilio cannot have seen it. */
const NOT_SENT_NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * A call whose outcome cannot be known from its answer (500/502/504, timeout, connection reset, an
 * answer that cannot be read): the message may exist at Twilio. The dispatcher records
 * `MessageOutcomeUnknown` and does not retry; if Twilio did send it, its status callback still
 * records `MessageDelivered`, because the callback URL carries the message's reference.
 */
export class TwilioOutcomeUnknownError extends OutcomeUnknownDeliveryError {
  constructor(message: string) {
    super(message);
    this.name = 'TwilioOutcomeUnknownError';
  }
}

/** Maps what the client threw to the channel port's errors. */
export function deliveryErrorFrom(error: unknown): Error {
  // The client answers every HTTP status itself (validateStatus accepts all), so HTTP errors are RestExceptions.
  if (error instanceof twilio.RestException) {
    const { status, code } = error;
    const detail = `Twilio ${status}${code ? ` (${code})` : ''}: ${error.message}`;
    if (status === 429 || status === 503) return new TransientDeliveryError(detail);
    if (status >= 500) return new TwilioOutcomeUnknownError(`${detail}; the message may have been created, so it is not retried`);
    return new PermanentDeliveryError(detail, code ? `twilio_${code}` : `twilio_http_${status}`, code !== undefined && UNREACHABLE_CODES.has(code));
  }
  // The client parses the answer after any status it did not refuse: a 2xx whose body is not JSON (a
  // proxy's page, a truncated answer) means Twilio may well have created the message.
  if (error instanceof SyntaxError) {
    return new TwilioOutcomeUnknownError(`Twilio's answer could not be read (${error.message}); the message may have been created, so it is not retried`);
  }
  const networkCode = (error as { code?: unknown })?.code;
  if (typeof networkCode === 'string' && NOT_SENT_NETWORK_CODES.has(networkCode)) {
    return new TransientDeliveryError(`Twilio unreachable (${networkCode}): ${(error as Error).message}`);
  }
  if (typeof networkCode === 'string') {
    return new TwilioOutcomeUnknownError(`Twilio call interrupted (${networkCode}): ${(error as Error).message}; the message may have been created, so it is not retried`);
  }
  return error instanceof Error ? error : new Error(String(error));
}

export class TwilioAdapter implements ChannelAdapter {
  readonly provider = 'twilio';
  /** Messages.create is not idempotent; see the file comment and docs/delivery.md. */
  readonly safeToRetry = false;
  private readonly from: string;

  constructor(
    readonly channel: TwilioChannel,
    private readonly client: TwilioClient,
    from: string,
    /** PUBLIC_URL: status callbacks come back to `<publicUrl>/webhooks/twilio/status`. */
    private readonly publicUrl: string,
  ) {
    this.from = twilioAddress(channel, from);
  }

  /** The `phone` trait when it is E.164; both channels use the same number. */
  address(contact: Contact): string | undefined {
    const phone = contact.traits.phone;
    return typeof phone === 'string' && E164.test(phone) ? phone : undefined;
  }

  async send(delivery: Delivery): Promise<SendResult> {
    const statusCallback = statusCallbackUrl(this.publicUrl, {
      workspace: delivery.workspace,
      person: delivery.person,
      messageId: delivery.messageId,
      channel: this.channel,
    });
    try {
      const message = await this.client.messages.create({
        to: twilioAddress(this.channel, delivery.to),
        from: this.from,
        body: delivery.content.text,
        statusCallback,
      });
      return { providerMessageId: message.sid };
    } catch (error) {
      throw deliveryErrorFrom(error);
    }
  }
}

/** The adapters to give the dispatcher: SMS when TWILIO_FROM is set, WhatsApp when TWILIO_WHATSAPP_FROM is. */
export function createTwilioAdapters(config: Pick<HeraldConfig, 'channels' | 'publicUrl'>): Partial<Record<TwilioChannel, TwilioAdapter>> {
  const settings = config.channels.twilio;
  if (!settings) return {};
  const client = createTwilioClient(settings);
  const adapters: Partial<Record<TwilioChannel, TwilioAdapter>> = {};
  if (settings.from) adapters.sms = new TwilioAdapter('sms', client, settings.from, config.publicUrl);
  if (settings.whatsappFrom) adapters.whatsapp = new TwilioAdapter('whatsapp', client, settings.whatsappFrom, config.publicUrl);
  return adapters;
}
