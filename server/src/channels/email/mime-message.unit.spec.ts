import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer';
import { parseTemplateFile } from '../../templates/template';
import { TemplateRenderer } from '../../templates/template-renderer';
import { EXAMPLE_TEMPLATES_DIR } from '../../templates/seed-templates';
import { composeMessage } from './mime-message';
import type { SmtpMail } from './smtp-thread';
import { trackEmailHtml } from './tracked-html';

const date = new Date('2026-11-27T01:02:03.000Z');
const boundaryId = '0123456789abcdef';

type Mail = SmtpMail;

/** What nodemailer itself writes for the mail: its MailComposer tree streamed (as `sendMail` does), and the envelope. */
async function viaNodemailer(mail: Mail): Promise<{ raw: string; envelope: unknown; transferEncodings: string[] }> {
  const root = new MailComposer({ ...mail, date, baseBoundary: boundaryId }).compile();
  const raw = (await root.build()).toString('utf8');
  return { raw, envelope: root.getEnvelope(), transferEncodings: [...raw.matchAll(/Content-Transfer-Encoding: (\S+)/g)].map((m) => m[1]) };
}

const base: Mail = {
  from: 'Acme <shop@acme.test>',
  to: 'ada.lovelace+shop@example.test',
  subject: 'You left something behind',
  text: 'Hi Ada,\n\nyour cart is saved.\n\nReturn to your cart (https://shop.example.com/cart/c-1042)\n',
  html: '<!doctype html><html><body><p>Hi Ada,</p><p>your cart is <b>saved</b>.</p></body></html>',
  messageId: '<e-1/mail/1@herald.test>',
  headers: {
    'X-Herald-Message-Id': 'e-1/mail/1',
    'List-Unsubscribe': `<https://herald.test/u/${'t'.repeat(120)}>, <mailto:unsubscribe@acme.test?subject=unsubscribe%20${'t'.repeat(120)}>`,
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
  },
};

/** bench:send's email: the abandoned-cart example rendered, then tracked as the SMTP thread tracks it. */
async function benchEmail(): Promise<{ subject: string; text: string; html: string }> {
  const parsed = parseTemplateFile('cart-plain.mjml', readFileSync(join(EXAMPLE_TEMPLATES_DIR, 'cart-plain.mjml'), 'utf8'));
  if (!parsed.ok) throw new Error('cart-plain.mjml does not parse');
  const template = { id: parsed.id, ...parsed.parsed.content, version: 1, savedAt: date.toISOString() };
  const renderer = new TemplateRenderer({ get: async () => template });
  const cart = { cart_id: 'c-1042', currency: 'EUR', products: [{ name: 'Trail running shoes', quantity: 1, price: '89.00' }, { name: 'Merino socks', quantity: 2, price: '12.50' }] };
  const links = { unsubscribe_url: 'https://herald.test/u/tok', preferences_url: 'https://herald.test/preferences/tok' };
  const content = await renderer.render({
    workspace: 'default',
    channel: 'email',
    template: 'cart-plain',
    variables: { user: { first_name: 'Ada', email: base.to }, event: cart, trigger: cart, message: { id: 'e-1/mail/1', ...links } },
  });
  const html = trackEmailHtml(content.html ?? '', { baseUrl: 'https://herald.test', secret: new Uint8Array(32) }, {
    about: { w: 'default', p: 'ada', m: 'e-1/mail/1', ch: 'email' },
    own: [links.unsubscribe_url, links.preferences_url],
  });
  return { subject: content.subject ?? '', text: content.text, html };
}

/** A deterministic generator, so a failure names the case that produced it. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const PIECES = ['a', 'Z', ' ', '  ', '\t', '\n', '\r\n', '\r', '.', '..', '=', '==3D', '-', '--', 'é', 'ü', '€', '😀', '<a href="https://x.test/?a=1&amp;b=2">x</a>', 'word', 'longer-token-without-spaces', ',', '!', '?', '\u00a0'];
function text(next: () => number, length: number, pieces = PIECES): string {
  let out = '';
  while (out.length < length) out += pieces[Math.floor(next() * pieces.length)];
  return out;
}

describe('composeMessage', () => {
  it('writes the bench email byte for byte as nodemailer streams it, with the same envelope', async () => {
    const mail = { ...base, ...(await benchEmail()) };
    const expected = await viaNodemailer(mail);
    const composed = composeMessage(mail, { date, boundaryId });
    expect(expected.transferEncodings).toEqual(['quoted-printable', 'quoted-printable']);
    expect(composed?.raw).toBe(expected.raw);
    expect(composed?.envelope).toEqual(expected.envelope);
  });

  it('matches nodemailer on plain, long-lined, non-ASCII and whitespace-edged content and headers', async () => {
    const cases: Mail[] = [
      base,
      { ...base, text: 'short and plain', html: '<p>x</p>' },
      { ...base, text: 'trailing spaces   ', html: '<p>tab at the end</p>\t' },
      { ...base, text: `${'a'.repeat(200)}\nnext line ends with space \nlast`, html: `<p>${'long '.repeat(60)}</p>\r\n<p>crlf</p>` },
      { ...base, subject: 'Héllo, ça va? Ünïcödé in the subject and a fairly long one that must be folded over', text: 'Grüße aus Köln — 10 €', html: '<p>Grüße aus Köln — 10 €</p>' },
      { ...base, subject: '' },
      { ...base, subject: '   ' },
      { ...base, from: '"Acme, Inc." <shop@acme.test>' },
      { ...base, from: 'Café Ünï <shop@acme.test>' },
      { ...base, from: 'shop@acme.test' },
      { ...base, from: 'Acme <shop@bücher.test>' },
      { ...base, to: 'Ada.Lovelace@example.test' },
      { ...base, headers: { 'x-herald-message-id': 'ä/mail/1', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' } },
      { ...base, headers: {} },
      { ...base, text: '.starts with a dot\n.\n..\nend', html: '.<p>dot</p>\n.\n' },
      { ...base, text: 'soft = equals == and =3D', html: '<p style="a=b">=</p>' },
    ];
    for (const mail of cases) {
      const composed = composeMessage(mail, { date, boundaryId });
      const expected = await viaNodemailer(mail);
      expect({ mail, raw: composed?.raw }).toEqual({ mail, raw: expected.raw });
      expect(composed?.envelope).toEqual(expected.envelope);
    }
  });

  it('matches nodemailer on 400 generated texts, or declines exactly where nodemailer uses base64', async () => {
    const next = random(5);
    let composedCount = 0;
    for (let i = 0; i < 400; i++) {
      const mail = { ...base, subject: text(next, 1 + Math.floor(next() * 90)).replace(/[\r\n]/g, ''), text: text(next, 1 + Math.floor(next() * 600)), html: text(next, 1 + Math.floor(next() * 2000)) };
      const expected = await viaNodemailer(mail);
      const composed = composeMessage(mail, { date, boundaryId });
      if (expected.transferEncodings.includes('base64')) {
        expect({ i, composed }).toEqual({ i, composed: undefined });
        continue;
      }
      composedCount += 1;
      expect({ i, raw: composed?.raw }).toEqual({ i, raw: expected.raw });
    }
    // Most of them are mostly Latin: the comparison above ran on them.
    expect(composedCount).toBeGreaterThan(300);
  });

  it('declines what it does not compose, so nodemailer composes it as before', () => {
    expect(composeMessage({ ...base, html: undefined }, { date, boundaryId })).toBeUndefined();
    expect(composeMessage({ ...base, text: '' }, { date, boundaryId })).toBeUndefined();
    expect(composeMessage({ ...base, to: 'josé@example.test' }, { date, boundaryId })).toBeUndefined();
    expect(composeMessage({ ...base, to: 'ada@Example.TEST' }, { date, boundaryId })).toBeUndefined();
    expect(composeMessage({ ...base, to: 'Ada <ada@example.test>' }, { date, boundaryId })).toBeUndefined();
    expect(composeMessage({ ...base, from: 'Acme <josé@acme.test>' }, { date, boundaryId })).toBeUndefined();
    expect(composeMessage({ ...base, headers: { Subject: 'another' } }, { date, boundaryId })).toBeUndefined();
    expect(composeMessage({ ...base, headers: { 'Content-Type': 'text/plain' } }, { date, boundaryId })).toBeUndefined();
    expect(composeMessage({ ...base, html: `<p>${'x'.repeat(70_000)}</p>` }, { date, boundaryId })).toBeUndefined();
    expect(composeMessage({ ...base, text: 'Привет, это почти целиком кириллица' }, { date, boundaryId })).toBeUndefined();
  });

  it('gives each message its own boundary and the current date by default', () => {
    const one = composeMessage(base);
    const two = composeMessage(base);
    const boundary = (raw: string | undefined) => /boundary="([^"]+)"/.exec(raw ?? '')?.[1];
    expect(boundary(one?.raw)).toMatch(/^--_NmP-[0-9a-f]{16}-Part_1$/);
    expect(boundary(one?.raw)).not.toBe(boundary(two?.raw));
    expect(one?.raw).toMatch(/\r\nDate: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000\r\n/);
  });
});
