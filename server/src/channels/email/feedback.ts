/**
 * What a mail report means for the person it is about, pure: given their stream and a parsed report
 * (feedback-report.ts), the events to append. A complaint is `MessageComplained` plus an email
 * `Unsubscribed` (a complaint stops marketing email as an unsubscribe does; service messages marked
 * transactional still go); a DSN whose recipient failed is `MessageBounced`. Each event's key is
 * fixed per message, so the same report, or a second report about the same message, appends nothing.
 */
import type { RecordedEvent } from '../../event-store/event-store.port';
import { CONTACT_EVENTS, contactFrom } from '../contact';
import type { MailReport } from './feedback-report';

export const FEEDBACK_EVENTS = { complained: 'MessageComplained', bounced: 'MessageBounced' } as const;

export interface MessageComplained {
  messageId: string;
  channel: 'email';
  source: 'arf';
  feedbackType: string;
  userAgent?: string;
  arrivalDate?: string;
}

export interface AsyncBounce {
  messageId: string;
  channel: 'email';
  reason: 'dsn';
  /** `smtp_5.1.1`: the enhanced status, like the `smtp_550` of a bounce at send time. */
  code: string;
  status: string;
  permanent: boolean;
  recipient?: string;
  detail?: string;
  reportingMta?: string;
}

export interface FeedbackChange {
  /** Stable per message and kind of event: the event id is derived from it. */
  key: 'complained' | 'unsubscribed' | 'bounced';
  type: string;
  data: Record<string, unknown>;
}

export type FeedbackDecision = { kind: 'record'; changes: FeedbackChange[] } | { kind: 'ignored'; reason: string };

/** The message was not sent to this person by this workspace: nothing to record. */
export class UnknownMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnknownMessageError';
  }
}

export function decideFeedback(report: MailReport, messageId: string, history: RecordedEvent[]): FeedbackDecision {
  const about = history.filter((event) => (event.data as { messageId?: string } | undefined)?.messageId === messageId);
  if (!about.some((event) => event.type === 'MessageSent' || event.type === 'MessageDispatching')) {
    throw new UnknownMessageError(`No email ${messageId} was sent to this person`);
  }
  if (report.kind === 'feedback') {
    // RFC 6650: `not-spam` withdraws a complaint; Herald keeps the unsubscribe (the person can re-subscribe on the preference page).
    if (report.feedbackType === 'not-spam') return { kind: 'ignored', reason: 'Feedback-Type not-spam is not a complaint' };
    const complained: MessageComplained = {
      messageId,
      channel: 'email',
      source: 'arf',
      feedbackType: report.feedbackType,
      ...(report.userAgent ? { userAgent: report.userAgent.slice(0, 256) } : {}),
      ...(report.arrivalDate ? { arrivalDate: report.arrivalDate.slice(0, 64) } : {}),
    };
    const changes: FeedbackChange[] = [{ key: 'complained', type: FEEDBACK_EVENTS.complained, data: { ...complained } }];
    if (!contactFrom(history).unsubscribed.has('email')) {
      changes.push({ key: 'unsubscribed', type: CONTACT_EVENTS.unsubscribed, data: { channel: 'email', source: 'complaint', messageId } });
    }
    return { kind: 'record', changes };
  }
  const failed = report.recipients.find((recipient) => recipient.action === 'failed');
  if (!failed) {
    return { kind: 'ignored', reason: `The report says ${report.recipients.map((r) => r.action).join(', ')}, not failed: nothing to record` };
  }
  if (about.some((event) => event.type === FEEDBACK_EVENTS.bounced)) return { kind: 'ignored', reason: 'The bounce of this message is already recorded' };
  const bounce: AsyncBounce = {
    messageId,
    channel: 'email',
    reason: 'dsn',
    code: `smtp_${failed.status}`,
    status: failed.status,
    permanent: failed.status.startsWith('5.'),
    ...(failed.recipient ? { recipient: failed.recipient.slice(0, 254) } : {}),
    ...(failed.diagnosticCode ? { detail: failed.diagnosticCode.slice(0, 1000) } : {}),
    ...(report.reportingMta ? { reportingMta: report.reportingMta.slice(0, 254) } : {}),
  };
  return { kind: 'record', changes: [{ key: 'bounced', type: FEEDBACK_EVENTS.bounced, data: { ...bounce } }] };
}
