/**
 * Twilio's webhooks, past the HTTP edge: signature checks, status callbacks becoming outcome events,
 * and opt-out/opt-in keywords becoming `Unsubscribed`/`Subscribed`. Event ids are derived from
 * Twilio's MessageSid, so a callback Twilio sends again records nothing new.
 */
import { personStream } from '@herald/projections';
import twilio from 'twilio';
import type { EventStore, NewEvent } from '../../event-store/event-store.port';
import type { Clock } from '../../shared/clock';
import { derivedEventId } from '../../shared/ids';
import { CONTACT_EVENTS } from '../contact';
import type { PhoneIndexReader } from './phone-index.projection';
import { keywordAction, outcomeOfStatus, parseTwilioAddress, referenceFromQuery } from './twilio-callbacks';

export type TwilioParams = Record<string, string | string[]>;

export interface TwilioWebhookSettings {
  /** PUBLIC_URL: the base of the URLs Twilio calls, and so of the URLs it signs. */
  publicUrl: string;
  /** Undefined when Twilio is not configured: the webhooks then answer 404. */
  authToken?: string;
}

export class TwilioWebhooks {
  constructor(
    private readonly store: EventStore,
    private readonly phones: PhoneIndexReader,
    private readonly clock: Clock,
    private readonly settings: TwilioWebhookSettings,
  ) {}

  get configured(): boolean {
    return this.settings.authToken !== undefined;
  }

  /**
   * Whether Twilio signed this request. Twilio signs the URL it was given (PUBLIC_URL + path + query)
   * followed by the sorted form parameters, so behind a proxy PUBLIC_URL must be what Twilio calls.
   */
  verify(path: string, rawQuery: string, signature: string | undefined, params: TwilioParams): boolean {
    if (!this.settings.authToken || !signature) return false;
    const url = `${this.settings.publicUrl}${path}${rawQuery ? `?${rawQuery}` : ''}`;
    return twilio.validateRequest(this.settings.authToken, signature, url, params);
  }

  /** Records what a status callback means for its message; returns how many events were new. */
  async status(rawQuery: string, params: TwilioParams): Promise<{ recorded: number }> {
    const ref = referenceFromQuery(new URLSearchParams(rawQuery));
    const sid = first(params.MessageSid) ?? first(params.SmsSid);
    // A callback for a message Herald did not send (configured by hand in Twilio) has no reference.
    if (!ref || !sid) return { recorded: 0 };
    const status = first(params.MessageStatus) ?? first(params.SmsStatus);
    const errorCode = first(params.ErrorCode) || undefined;
    const outcome = outcomeOfStatus(status, errorCode);
    const common = { messageId: ref.messageId, channel: ref.channel, provider: 'twilio', providerMessageId: sid, status };
    let data: Record<string, unknown>;
    switch (outcome.type) {
      case 'ignored':
        return { recorded: 0 };
      case 'MessageDelivered':
        data = common;
        break;
      case 'MessageFailed':
        data = {
          ...common,
          reason: 'provider_status',
          ...(outcome.errorCode ? { errorCode: outcome.errorCode, code: `twilio_${outcome.errorCode}` } : {}),
        };
        break;
      case 'MessageOpened':
        data = { ...common, source: 'whatsapp_read' };
        break;
      default: {
        const unhandled: never = outcome;
        throw new Error(`Unhandled outcome ${JSON.stringify(unhandled)}`);
      }
    }
    const event = this.event(ref.workspace, derivedEventId(`twilio:${sid}`, 'twilio-status', status), outcome.type, data);
    const result = await this.store.append(personStream(ref.workspace, ref.person), [event]);
    return { recorded: result.appended };
  }

  /**
   * An inbound message: an opt-out keyword unsubscribes every person with that number from the
   * channel it came on (SMS, or WhatsApp for `whatsapp:` senders), in every workspace, because
   * Twilio itself stops delivering from that sender; an opt-in keyword subscribes them again.
   * Anything else is not recorded.
   */
  async inbound(params: TwilioParams): Promise<{ recorded: number }> {
    const from = parseTwilioAddress(first(params.From));
    const action = keywordAction(first(params.Body));
    const sid = first(params.MessageSid) ?? first(params.SmsMessageSid) ?? first(params.SmsSid);
    if (!from || !action || !sid) return { recorded: 0 };
    let recorded = 0;
    for (const { workspace, stream } of this.phones.streamsWithPhone(from.phone)) {
      const type = action.action === 'unsubscribe' ? CONTACT_EVENTS.unsubscribed : CONTACT_EVENTS.subscribed;
      const data = {
        channel: from.channel,
        source: action.action === 'unsubscribe' ? 'twilio-stop' : 'twilio-start',
        keyword: action.keyword,
        providerMessageId: sid,
      };
      const result = await this.store.append(stream, [this.event(workspace, derivedEventId(`twilio:${sid}`, 'twilio-inbound', stream), type, data)]);
      recorded += result.appended;
    }
    return { recorded };
  }

  private event(workspace: string, id: string, type: string, data: Record<string, unknown>): NewEvent {
    const now = this.clock.now().toISOString();
    return { id, type, data, metadata: { workspace, correlationId: id, occurredAt: now, receivedAt: now, schemaVersion: 1 } };
  }
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
