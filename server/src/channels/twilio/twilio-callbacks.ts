/**
 * What Twilio tells Herald, as pure decisions: which outcome a status callback means, whether an
 * inbound text is an opt-out or opt-in keyword, and how a message's reference travels in its
 * status-callback URL. No I/O and no clock; the webhook service does the appending.
 */
import { WORKSPACE_ID_PATTERN } from '@herald/projections';

export type TwilioChannel = 'sms' | 'whatsapp';

/** E.164: a plus, a non-zero country digit, at most 15 digits in all. */
export const E164 = /^\+[1-9]\d{6,14}$/;

export const STATUS_CALLBACK_PATH = '/webhooks/twilio/status';
export const INBOUND_PATH = '/webhooks/twilio/inbound';

/** Twilio's default opt-out keywords (Advanced Opt-Out), matched on the whole trimmed body. */
export const OPT_OUT_KEYWORDS = ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT'] as const;
/**
 * Opt-in keywords. Twilio also resumes delivery on YES; Herald does not re-subscribe on it, because
 * "yes" is an ordinary reply to many messages and consent should not hang on it.
 */
export const OPT_IN_KEYWORDS = ['START', 'UNSTOP'] as const;

/** `whatsapp:+4915…` → whatsapp, `+4915…` → sms; undefined for anything that is not a phone number. */
export function parseTwilioAddress(address: string | undefined): { channel: TwilioChannel; phone: string } | undefined {
  if (typeof address !== 'string') return undefined;
  const whatsapp = address.startsWith('whatsapp:');
  const phone = whatsapp ? address.slice('whatsapp:'.length) : address;
  return E164.test(phone) ? { channel: whatsapp ? 'whatsapp' : 'sms', phone } : undefined;
}

/** The address Twilio expects for a channel: `+1…` for SMS, `whatsapp:+1…` for WhatsApp. */
export function twilioAddress(channel: TwilioChannel, phone: string): string {
  const bare = phone.startsWith('whatsapp:') ? phone.slice('whatsapp:'.length) : phone;
  return channel === 'whatsapp' ? `whatsapp:${bare}` : bare;
}

export type KeywordAction = { action: 'unsubscribe' | 'subscribe'; keyword: string };

export function keywordAction(body: string | undefined): KeywordAction | undefined {
  const keyword = (body ?? '').trim().toUpperCase();
  if ((OPT_OUT_KEYWORDS as readonly string[]).includes(keyword)) return { action: 'unsubscribe', keyword };
  if ((OPT_IN_KEYWORDS as readonly string[]).includes(keyword)) return { action: 'subscribe', keyword };
  return undefined;
}

/**
 * Which message a status callback is about. Herald puts it in the callback URL it gives Twilio for
 * each message; Twilio signs that URL, query included, so the reference cannot be forged or altered,
 * it needs no lookup table, and it arrives even when the send's answer was lost (a crash between the
 * call and `MessageSent`), which lets a later `delivered` settle a `MessageOutcomeUnknown`.
 */
export interface MessageReference {
  workspace: string;
  /** Identity key of the person (`user:<id>` / `anon:<id>`). */
  person: string;
  messageId: string;
  channel: TwilioChannel;
}

export function statusCallbackUrl(publicUrl: string, ref: MessageReference): string {
  const query = new URLSearchParams({ w: ref.workspace, p: ref.person, m: ref.messageId, c: ref.channel });
  return `${publicUrl}${STATUS_CALLBACK_PATH}?${query.toString()}`;
}

export function referenceFromQuery(query: URLSearchParams): MessageReference | undefined {
  const workspace = query.get('w');
  const person = query.get('p');
  const messageId = query.get('m');
  const channel = query.get('c');
  if (!workspace || !WORKSPACE_ID_PATTERN.test(workspace)) return undefined;
  if (!person || !/^(user|anon):./s.test(person)) return undefined;
  if (!messageId) return undefined;
  if (channel !== 'sms' && channel !== 'whatsapp') return undefined;
  return { workspace, person, messageId, channel };
}

/**
 * The outcome a `MessageStatus` records. Only statuses that say something `MessageSent` does not are
 * recorded: `delivered`, the final failures, and WhatsApp's `read`. The intermediate ones (`accepted`,
 * `scheduled`, `queued`, `sending`, `sent`) would add two or three events per SMS to the person's stream
 * and answer no question the log cannot already answer; `canceled` only concerns scheduled messages,
 * which Herald does not use.
 */
export type StatusOutcome =
  | { type: 'MessageDelivered' }
  | { type: 'MessageFailed'; errorCode?: string }
  | { type: 'MessageOpened' }
  | { type: 'ignored' };

export function outcomeOfStatus(status: string | undefined, errorCode?: string): StatusOutcome {
  switch (status) {
    case 'delivered':
      return { type: 'MessageDelivered' };
    case 'undelivered':
    case 'failed':
      return { type: 'MessageFailed', ...(errorCode ? { errorCode } : {}) };
    case 'read':
      return { type: 'MessageOpened' };
    default:
      return { type: 'ignored' };
  }
}
