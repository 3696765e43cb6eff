// @ts-check
/**
 * Composes the MIME message of an email the way nodemailer's MailComposer and MimeNode stream it,
 * byte for byte (mime-message.unit.spec.ts compares the two), in one synchronous pass: headers
 * through nodemailer's own header encoding and folding, the text and HTML parts through its own
 * quoted-printable encoder. The SMTP thread hands the result to nodemailer as `raw`, which the
 * pooled transport sends as it sends any message.
 *
 * Why: nodemailer builds every message as a tree of MimeNodes (each header looked up and
 * re-normalised on every access) streamed through a chain of Transform streams with a turn of the
 * event loop between each step. For bench:send's 15 KB email that cost ≈ 0.25-0.45 ms of CPU per
 * email of the ≈ 1.2-1.4 ms nodemailer spent in all (measured alone, 3,000 emails to the bench's
 * SMTP sink). The output is the same message.
 *
 * Only the shape Herald sends takes this path: a text and an HTML alternative (strings under 64 KB,
 * encoded as 7bit or quoted-printable), ASCII addresses, custom headers that are `X-` or `List-`
 * fields. Anything else (`composeMessage` returns undefined) goes through nodemailer's own
 * composition as before.
 */
'use strict';
const { randomUUID } = require('node:crypto');
const MimeNode = require('nodemailer/lib/mime-node').default;
const { foldLines, hasLongerLines, isPlainText } = require('nodemailer/lib/mime-funcs');
const qp = require('nodemailer/lib/qp');

/**
 * @typedef {{ from: string; to: string; subject: string; text: string; html?: string; messageId: string; headers: Record<string, string> }} ComposableMail
 * @typedef {{ raw: string; envelope: { from: string; to: string[] } }} ComposedMessage
 */

/** Larger parts are encoded by nodemailer's stream in 64 KB slices; they go the usual way. */
const MAX_PART = 60 * 1024;
/** A plain address whose header and envelope forms nodemailer leaves as they are. */
const PLAIN_ADDRESS = /^[A-Za-z0-9_+-]+(\.[A-Za-z0-9_+-]+)*@[a-z0-9-]+(\.[a-z0-9-]+)+$/;
/** Custom header fields that cannot collide with the ones composed here. */
const CUSTOM_FIELD = /^(X|List)-[A-Za-z0-9-]+$/;

/** Encodes header values as a MimeNode of the message would (public `encodeHeaderValue`). */
const encoder = new MimeNode();

/** @type {Map<string, string>} custom header keys as nodemailer writes them (`X-Herald-Message-Id` → `X-Herald-Message-ID`), '' for one not composed here */
const headerKeys = new Map();
/** @type {Map<string, { line: string; address: string } | null>} the From line and envelope sender, by From value */
const senders = new Map();
/** The last subject's header line: a template's messages usually share it. */
let lastSubject = { value: '', line: '' };

/**
 * The message as nodemailer would write it, with its envelope; undefined when `mail` is not of the
 * shape composed here.
 * @param {ComposableMail} mail
 * @param {{ date?: Date; boundaryId?: string }} [fixed] A date and boundary for tests; by default now and a random one.
 * @returns {ComposedMessage | undefined}
 */
function composeMessage(mail, fixed = {}) {
  const { html, text } = mail;
  if (typeof html !== 'string' || typeof text !== 'string' || !html || !text) return undefined;
  if (html.length > MAX_PART || text.length > MAX_PART) return undefined;
  if (typeof mail.to !== 'string' || !PLAIN_ADDRESS.test(mail.to)) return undefined;
  const sender = senderOf(mail.from);
  if (!sender) return undefined;
  const textPart = encodedPart(text);
  const htmlPart = textPart && encodedPart(html);
  if (!textPart || !htmlPart) return undefined;

  let head = '';
  for (const [key, value] of Object.entries(mail.headers ?? {})) {
    const name = headerKey(key);
    if (!name) return undefined;
    head += headerLine(name, value) + '\r\n';
  }
  if (mail.subject !== lastSubject.value || !lastSubject.line) lastSubject = { value: mail.subject, line: headerLine('Subject', mail.subject) };
  const date = (fixed.date ?? new Date()).toUTCString().replace(/GMT/, '+0000');
  const boundary = `--_NmP-${fixed.boundaryId ?? randomUUID().replace(/-/g, '').slice(0, 16)}-Part_1`;
  head +=
    `${sender.line}\r\nTo: ${mail.to}\r\n` +
    (lastSubject.line ? `${lastSubject.line}\r\n` : '') +
    `${headerLine('Message-ID', mail.messageId)}\r\nDate: ${date}\r\nMIME-Version: 1.0\r\n` +
    foldLines(`Content-Type: multipart/alternative; boundary="${boundary}"`, 76);
  const raw =
    `${head}\r\n\r\n--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: ${textPart.encoding}\r\n\r\n${textPart.body}` +
    `\r\n--${boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: ${htmlPart.encoding}\r\n\r\n${htmlPart.body}` +
    `\r\n--${boundary}--\r\n`;
  return { raw, envelope: { from: sender.address, to: [mail.to] } };
}

/**
 * `key: value` encoded and folded as MimeNode's `buildHeaders` writes it.
 * @param {string} key
 * @param {string} value
 */
function headerLine(key, value) {
  const encoded = encoder.encodeHeaderValue(key, value);
  return encoded.trim() ? foldLines(`${key}: ${encoded}`, 76) : '';
}

/**
 * A custom header's key as nodemailer normalises it; undefined for a field composed here or one
 * that needs more than a plain line.
 * @param {string} key
 */
function headerKey(key) {
  let name = headerKeys.get(key);
  if (name === undefined) {
    // A child node's header block is just its own headers (a content-less node has only the one set
    // here), in the form the message would have them.
    const line = new MimeNode().createChild(false).setHeader(key, 'x').buildHeaders();
    name = line.slice(0, line.indexOf(':'));
    if (!CUSTOM_FIELD.test(name)) name = '';
    headerKeys.set(key, name);
  }
  return name || undefined;
}

/**
 * The From line and the envelope sender of a From value (EMAIL_FROM: the same for every message),
 * or null when nodemailer would change the address (so the fast path does not apply).
 * @param {string} from
 */
function senderOf(from) {
  let sender = senders.get(from);
  if (sender === undefined) {
    const node = new MimeNode().setHeader('From', from);
    const address = node.getEnvelope().from;
    sender = typeof address === 'string' && PLAIN_ADDRESS.test(address) ? { line: headerLine('From', from), address } : null;
    if (senders.size > 100) senders.clear();
    senders.set(from, sender);
  }
  return sender;
}

/**
 * A text/* part's transfer encoding and body as MimeNode chooses and streams them; undefined for
 * base64 (mostly non-Latin text), which goes the usual way.
 * @param {string} content
 * @returns {{ encoding: string; body: string } | undefined}
 */
function encodedPart(content) {
  // MimeNode.getTransferEncoding for a text/* string.
  if (isPlainText(content) && !hasLongerLines(content, 76)) return { encoding: '7bit', body: content };
  if (!mostlyLatin(content)) return undefined;
  return { encoding: 'quoted-printable', body: quotedPrintable(content) };
}

/** What `MimeNode._getTextEncoding` counts against Latin letters: 8-bit and control characters. */
const NON_LATIN = /[\x00-\x08\x0b\x0c\x0e-\x1f\u0080-\uffff]/g;
const LATIN = /[A-Za-z]/g;

/**
 * `MimeNode._getTextEncoding`: quoted-printable when Latin letters outnumber 8-bit and control
 * characters. Counted with regular expressions, and only as many letters as it takes to decide.
 * @param {string} value
 */
function mostlyLatin(value) {
  const nonLatin = value.match(NON_LATIN)?.length ?? 0;
  LATIN.lastIndex = 0;
  let latin = 0;
  while (latin <= nonLatin && LATIN.exec(value)) latin++;
  LATIN.lastIndex = 0;
  return nonLatin < latin;
}

/**
 * What nodemailer's quoted-printable `Encoder` stream writes for one string: whitespace at the end
 * of the input is held back and encoded last (as the end of a line), soft line breaks at 76.
 * @param {string} content
 */
function quotedPrintable(content) {
  const bytes = Buffer.from(content, 'utf8');
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x20 || bytes[end - 1] === 0x09)) end--;
  let out = qp.wrap(qp.encode(bytes.subarray(0, end)), 76);
  if (end < bytes.length) {
    const lastLine = out.lastIndexOf('\n') + 1;
    out = out.slice(0, lastLine) + qp.wrap(out.slice(lastLine) + qp.encode(bytes.subarray(end)), 76);
  }
  return out;
}

module.exports = { composeMessage };
