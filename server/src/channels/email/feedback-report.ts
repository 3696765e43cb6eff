/**
 * Mail reports that come back about an email Herald sent, read from their raw MIME:
 * - a feedback-loop complaint (ARF, RFC 5965: `multipart/report; report-type=feedback-report`), which
 *   mailbox providers send when the recipient pressed "this is spam";
 * - a delivery status notification (DSN, RFC 3464: `multipart/report; report-type=delivery-status`),
 *   which a relay sends when it gave up on a message after accepting it (an asynchronous bounce).
 * Both carry the original message (`message/rfc822`) or its header (`text/rfc822-headers`), which
 * names Herald's message (`X-Herald-Message-Id`, else the `Message-ID` Herald wrote) and carries the
 * signed unsubscribe link that says whose it was. Parsing is pure; what is recorded is decided in
 * `decideFeedback` (feedback.ts).
 */
import { simpleParser } from 'mailparser';

export type MailReport = FeedbackReport | DeliveryStatusReport;

export interface FeedbackReport {
  kind: 'feedback';
  /** `abuse`, `fraud`, `virus`, `other`, `not-spam` (RFC 5965 section 3.5 and 7.3). */
  feedbackType: string;
  userAgent?: string;
  /** When the report says it arrived at the reporting party (as given). */
  arrivalDate?: string;
  original: OriginalMessage;
}

export interface DeliveryStatusReport {
  kind: 'delivery-status';
  /** The reporting MTA (`Reporting-MTA`, without its type). */
  reportingMta?: string;
  recipients: RecipientStatus[];
  original: OriginalMessage;
}

export interface RecipientStatus {
  /** `failed`, `delayed`, `delivered`, `relayed`, `expanded`. */
  action: string;
  /** Enhanced status code, e.g. `5.1.1`. */
  status: string;
  recipient?: string;
  diagnosticCode?: string;
}

/** What the embedded original says about itself. */
export interface OriginalMessage {
  /** Herald's message id: `X-Herald-Message-Id`, else the local part of a Message-ID Herald wrote. */
  heraldMessageId?: string;
  messageIdHeader?: string;
  /** The signed token of Herald's unsubscribe link in `List-Unsubscribe`, if there is one. */
  unsubscribeToken?: string;
}

/** The report cannot be read; the message says what is wrong, for a 400. */
export class MalformedReportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedReportError';
  }
}

const ORIGINAL_TYPES = new Set(['message/rfc822', 'text/rfc822-headers', 'message/rfc822-headers', 'message/global', 'message/global-headers']);

/** Reads a raw ARF or DSN report; throws `MalformedReportError` naming the first thing missing. */
export async function parseMailReport(raw: Buffer, heraldHost: string): Promise<MailReport> {
  if (raw.length === 0) throw new MalformedReportError('The body is empty: send the raw report (message/rfc822)');
  let mail;
  try {
    mail = await simpleParser(raw, {
      // Keep the report's parts as they are: the machine-readable part and the original as attachments.
      ignoreEmbedded: true,
      keepDeliveryStatus: true,
      skipHtmlToText: true,
      skipTextToHtml: true,
      skipImageLinks: true,
      checksumAlgo: false,
    });
  } catch (error) {
    throw new MalformedReportError(`The body is not a readable MIME message: ${(error as Error).message}`);
  }
  const contentType = mail.headers.get('content-type') as { value?: string; params?: Record<string, string> } | undefined;
  const reportType = contentType?.params?.['report-type']?.toLowerCase();
  if (contentType?.value?.toLowerCase() !== 'multipart/report' || !reportType) {
    throw new MalformedReportError(
      `The report must be multipart/report with report-type=feedback-report (RFC 5965) or delivery-status (RFC 3464); got ${contentType?.value ?? 'no Content-Type'}`,
    );
  }
  const part = (types: string[]) => mail.attachments.find((attachment) => types.includes(attachment.contentType.toLowerCase()));
  const originalPart = mail.attachments.find((attachment) => ORIGINAL_TYPES.has(attachment.contentType.toLowerCase()));
  if (!originalPart) throw new MalformedReportError('The report has no original message (a message/rfc822 or text/rfc822-headers part)');
  const original = originalOf(originalPart.content, heraldHost);

  if (reportType === 'feedback-report') {
    const report = part(['message/feedback-report']);
    if (!report) throw new MalformedReportError('The feedback report has no message/feedback-report part');
    const fields = headerFields(report.content.toString('utf8'));
    const feedbackType = fields.get('feedback-type')?.toLowerCase();
    if (!feedbackType) throw new MalformedReportError('The message/feedback-report part has no Feedback-Type field');
    return { kind: 'feedback', feedbackType, userAgent: fields.get('user-agent'), arrivalDate: fields.get('arrival-date'), original };
  }
  if (reportType === 'delivery-status') {
    const status = part(['message/delivery-status', 'message/global-delivery-status']);
    if (!status) throw new MalformedReportError('The delivery status notification has no message/delivery-status part');
    const [perMessage, ...perRecipient] = headerBlocks(status.content.toString('utf8'));
    const recipients = perRecipient
      .map((fields) => ({
        action: fields.get('action')?.toLowerCase() ?? '',
        status: /\d\.\d{1,3}\.\d{1,3}/.exec(fields.get('status') ?? '')?.[0] ?? '',
        recipient: typeValue(fields.get('final-recipient') ?? fields.get('original-recipient')),
        diagnosticCode: typeValue(fields.get('diagnostic-code')),
      }))
      .filter((recipient) => recipient.action !== '');
    if (recipients.length === 0) throw new MalformedReportError('The message/delivery-status part has no recipient with an Action field');
    const bad = recipients.find((recipient) => recipient.status === '');
    if (bad) throw new MalformedReportError(`The delivery status of ${bad.recipient ?? 'a recipient'} has no valid Status field (e.g. 5.1.1)`);
    return { kind: 'delivery-status', reportingMta: typeValue(perMessage?.get('reporting-mta')), recipients, original };
  }
  throw new MalformedReportError(`report-type=${reportType} is not handled; Herald reads feedback-report (RFC 5965) and delivery-status (RFC 3464)`);
}

/** The header of the original message, as far as Herald needs it. */
function originalOf(content: Buffer, heraldHost: string): OriginalMessage {
  const text = content.toString('utf8');
  const end = text.search(/\r?\n\r?\n/);
  const fields = headerFields(end === -1 ? text : text.slice(0, end));
  const heraldId = fields.get('x-herald-message-id')?.trim();
  const messageIdHeader = /<[^<>\s]+>/.exec(fields.get('message-id') ?? '')?.[0];
  const suffix = `@${heraldHost.toLowerCase()}>`;
  const fromMessageId =
    messageIdHeader && messageIdHeader.toLowerCase().endsWith(suffix) ? messageIdHeader.slice(1, messageIdHeader.length - suffix.length) : undefined;
  const unsubscribeToken = /\/u\/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)/.exec(fields.get('list-unsubscribe') ?? '')?.[1];
  return { heraldMessageId: heraldId || fromMessageId, messageIdHeader, unsubscribeToken };
}

/** `rfc822; ada@example.com` -> `ada@example.com` (the address type of RFC 3464 fields dropped). */
function typeValue(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const semicolon = value.indexOf(';');
  return (semicolon === -1 ? value : value.slice(semicolon + 1)).trim() || undefined;
}

/** Blocks of `Name: value` fields separated by blank lines (RFC 3464's per-message and per-recipient groups). */
export function headerBlocks(text: string): Array<Map<string, string>> {
  return text
    .replace(/^(\r?\n)+/, '')
    .split(/\r?\n[ \t]*\r?\n/)
    .filter((block) => block.trim() !== '')
    .map(headerFields);
}

/** Header fields by lowercase name (the first occurrence wins), folded lines joined. */
export function headerFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!fields.has(name)) fields.set(name, line.slice(colon + 1).trim());
  }
  return fields;
}
