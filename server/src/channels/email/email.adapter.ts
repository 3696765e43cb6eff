/**
 * Email over SMTP: nodemailer with a pooled transport to `SMTP_URL`, on a thread of its own
 * (smtp-sender.worker.js) so that building and writing the MIME message runs beside the event loop.
 * The adapter only talks to the SMTP server; recording intents and outcomes is the dispatcher's job.
 * What it adds to the rendered message: open and click tracking (signed links through this
 * Herald), the RFC 2369/8058 unsubscribe headers, a Message-ID derived from the message id (the
 * provider id in `MessageSent`), and the message id in `X-Herald-Message-Id`, so a bounce or reply
 * can be traced back.
 *
 * SMTP has no idempotency key: a message that may have reached the server is never sent again
 * (`safeToRetry = false`), and nodemailer's own requeue after a dropped connection is turned off.
 * A connection lost after the whole message was written is an unknown outcome
 * (`MessageOutcomeUnknown`), not a transient error (see docs/delivery.md).
 */
import type { Channel } from '@herald/projections';
import { createHash } from 'node:crypto';
import {
  type ChannelAdapter,
  type Contact,
  type Delivery,
  OutcomeUnknownDeliveryError,
  PermanentDeliveryError,
  type SendResult,
  TransientDeliveryError,
} from '../channel.port';
import type { LinkSigner } from '../link-signer';
import { SmtpThread, SmtpThreadClosedError, SmtpThreadStoppedError } from './smtp-thread';
import type { MessageTracking } from './tracked-html';

export interface EmailAdapterOptions {
  /** `smtp://user:pass@host:587`, `smtps://...:465`; URL parameters are nodemailer options. */
  smtpUrl: string;
  /** `Name <address>` (EMAIL_FROM). */
  from: string;
  /** An address for the `mailto:` in List-Unsubscribe (UNSUBSCRIBE_MAILTO); the https link is always there. */
  unsubscribeMailto?: string;
  /** Connections in the pool; nodemailer's default is 5. */
  maxConnections?: number;
}

/** Errors before or without a server answer that say nothing was accepted: connect, DNS, TLS, greeting. */
const CONNECTION_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EPROXY', 'EPROTOCOL', 'EMAXLIMIT']);

interface SmtpError extends Error {
  code?: string;
  originalCode?: string;
  responseCode?: number;
  response?: string;
  command?: string;
}

export class EmailAdapter implements ChannelAdapter {
  readonly channel: Channel = 'email';
  readonly provider = 'smtp';
  readonly safeToRetry = false;
  /** nodemailer's pooled transport, on its own thread (smtp-sender.worker.js). */
  private readonly smtp: SmtpThread;
  private readonly host: string;

  constructor(
    private readonly options: EmailAdapterOptions,
    links: LinkSigner,
  ) {
    this.host = hostOf(links.baseUrl);
    // URL parameters (`?maxConnections=10`) override this, as nodemailer reads them last.
    this.smtp = new SmtpThread({
      smtpUrl: options.smtpUrl,
      maxConnections: options.maxConnections ?? 5,
      tracking: { baseUrl: links.baseUrl, secret: links.secret },
    });
  }

  address(contact: Contact): string | undefined {
    const email = contact.traits.email;
    if (typeof email !== 'string') return undefined;
    const trimmed = email.trim();
    return looksLikeEmail(trimmed) ? trimmed : undefined;
  }

  async send(delivery: Delivery): Promise<SendResult> {
    const messageId = messageIdHeader(delivery.messageId, this.host);
    const headers: Record<string, string> = { 'X-Herald-Message-Id': headerSafe(delivery.messageId) };
    const mailto = mailtoLink(delivery.links.unsubscribeMailto ?? this.options.unsubscribeMailto, delivery.links.unsubscribe);
    const listUnsubscribe = [delivery.links.unsubscribe, mailto].filter((link): link is string => !!link).map((link) => `<${link}>`);
    if (listUnsubscribe.length > 0) headers['List-Unsubscribe'] = listUnsubscribe.join(', ');
    // nodemailer's list.unsubscribePost writes a broken header: set it ourselves (RFC 8058).
    if (delivery.links.unsubscribe) headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';

    let outcome;
    try {
      outcome = await this.smtp.send({
        from: this.options.from,
        to: delivery.to,
        subject: delivery.content.subject ?? '',
        text: delivery.content.text,
        html: delivery.content.html,
        messageId,
        headers,
      }, delivery.content.html === undefined ? undefined : tracking(delivery));
    } catch (error) {
      if (error instanceof SmtpThreadStoppedError) throw new OutcomeUnknownDeliveryError(error.message);
      if (error instanceof SmtpThreadClosedError) throw new TransientDeliveryError(error.message);
      throw error;
    }
    if (outcome.failure) throw classifySmtpError(Object.assign(new Error(outcome.failure.message), outcome.failure), outcome.written);
    return { providerMessageId: messageId };
  }

  async close(): Promise<void> {
    await this.smtp.close();
  }
}

/** What the SMTP thread needs to sign the message's clicks and open (tracked-html.js `trackEmailHtml`). */
function tracking(delivery: Delivery): MessageTracking {
  return {
    about: { w: delivery.workspace, p: delivery.person, m: delivery.messageId, ch: delivery.channel },
    own: [delivery.links.unsubscribe, delivery.links.preferences].filter((link): link is string => !!link),
  };
}

/**
 * An SMTP failure as the dispatcher understands it. A server answer is a definite outcome: 5xx is
 * permanent (a bounce when it is about the recipient), 4xx and 503 are transient. Without an answer,
 * the outcome is unknown once the whole message was written, and transient before that.
 */
export function classifySmtpError(error: SmtpError, messageWritten: boolean): Error {
  const code = error.responseCode;
  const detail = error.response ?? error.message;
  if (typeof code === 'number' && code >= 500 && code < 600 && code !== 503) {
    const enhanced = /^\d{3}[ -](\d\.\d{1,3}\.\d{1,3})\b/.exec(error.response ?? '')?.[1];
    const policy = enhanced?.startsWith('5.7.') ?? false;
    // A bounce says the address is bad; a refused sender, policy or spam block, size or login says nothing about it.
    const aboutRecipient =
      !policy &&
      (error.command === 'RCPT TO' ||
        (error.command === 'DATA' && (enhanced ? /^5\.[12]\./.test(enhanced) : [550, 551, 553].includes(code))));
    return new PermanentDeliveryError(detail, `smtp_${code}`, aboutRecipient);
  }
  if (typeof code === 'number' && code >= 400) return new TransientDeliveryError(detail);
  if (messageWritten) {
    return new OutcomeUnknownDeliveryError(
      `The connection ended after the message was written and before the server answered; it may have been accepted: ${error.message}`,
    );
  }
  if (CONNECTION_CODES.has(error.code ?? '') || error.originalCode || !error.code) return new TransientDeliveryError(error.message);
  return new PermanentDeliveryError(error.message, `smtp_${error.code.toLowerCase()}`, false);
}

/** One address, no display name, nothing that could add a header or a second recipient. */
export function looksLikeEmail(value: string): boolean {
  return value.length <= 254 && /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+$/.test(value) && !/^\.|\.@|@\.|\.$|\.\./.test(value);
}

/**
 * `<id@host>`. Herald's message ids (`<enrollment>/<step>/<visit>`) are valid as they are (RFC 5322
 * dot-atom); anything else is reduced to safe characters plus a hash of the original, so it stays unique.
 */
export function messageIdHeader(messageId: string, host: string): string {
  if (/^[A-Za-z0-9_\-/+=]+(\.[A-Za-z0-9_\-/+=]+)*$/.test(messageId) && messageId.length <= 200) return `<${messageId}@${host}>`;
  const local = messageId
    .replace(/[^A-Za-z0-9_\-/+=]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 120);
  return `<${local}${local ? '.' : ''}${createHash('sha256').update(messageId).digest('hex').slice(0, 16)}@${host}>`;
}

function hostOf(baseUrl: string): string {
  try {
    return new URL(baseUrl).hostname || 'localhost';
  } catch {
    return 'localhost';
  }
}

function headerSafe(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\u0000-\u001f\u007f]/g, '');
}

/**
 * `mailto:` for List-Unsubscribe. Herald does not read that mailbox; the subject carries the signed
 * unsubscribe token so whatever processes it can act on it (POST /u/<token>).
 */
function mailtoLink(configured: string | undefined, unsubscribe: string | undefined): string | undefined {
  if (!configured) return undefined;
  const link = configured.startsWith('mailto:') ? configured : `mailto:${configured}`;
  if (link.includes('?')) return link;
  const token = unsubscribe?.slice(unsubscribe.lastIndexOf('/') + 1);
  return `${link}?subject=${encodeURIComponent(token ? `unsubscribe ${token}` : 'unsubscribe')}`;
}
