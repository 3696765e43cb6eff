import type { ParsedMail } from 'mailparser';
import type { Worker } from 'node:worker_threads';
import { OutcomeUnknownDeliveryError, PermanentDeliveryError, TransientDeliveryError, type Delivery } from '../channel.port';
import { LinkSigner } from '../link-signer';
import { EmailAdapter, looksLikeEmail, messageIdHeader } from './email.adapter';
import { startDroppingSmtpServer, startSmtpServer, type TestSmtpServer } from './smtp-server.fixture';

const links = new LinkSigner(Buffer.from('test-secret'), 'https://herald.example.com');
const FROM = 'Acme <news@acme.test>';

function delivery(to: string, overrides: Partial<Delivery> = {}): Delivery {
  const messageId = overrides.messageId ?? 'enr-1/reminder/0';
  return {
    messageId,
    workspace: 'default',
    person: 'user:ada',
    channel: 'email',
    to,
    content: {
      subject: 'Your cart, Ada',
      html: `<html><body><p>Hi Ada, your cart is waiting.</p>
<a href="https://shop.example.com/cart/c1?utm_source=email&amp;utm_campaign=cart">Return to your cart</a>
<a href="${links.url('/u', { k: 'u', w: 'default', p: 'user:ada', m: messageId, ch: 'email' })}">Unsubscribe</a>
</body></html>`,
      text: 'Hi Ada, your cart is waiting: https://shop.example.com/cart/c1',
    },
    links: {
      unsubscribe: links.url('/u', { k: 'u', w: 'default', p: 'user:ada', m: messageId, ch: 'email' }),
      preferences: links.url('/preferences', { k: 'p', w: 'default', p: 'user:ada' }),
    },
    ...overrides,
  };
}

/** A header as it was on the wire, unfolded. */
function rawHeader(mail: ParsedMail, name: string): string | undefined {
  return mail.headerLines
    .find((h) => h.key === name.toLowerCase())
    ?.line.slice(name.length + 1)
    .replace(/\r?\n[ \t]+/g, ' ')
    .trim();
}

function hrefs(html: string): string[] {
  return [...html.matchAll(/<a\b[^>]*\shref="([^"]*)"/gi)].map((m) => m[1].replace(/&amp;/g, '&'));
}

describe('EmailAdapter against a real SMTP server', () => {
  let smtp: TestSmtpServer;
  let adapter: EmailAdapter;
  beforeEach(async () => {
    smtp = await startSmtpServer({
      rejectRecipient: (address) =>
        address.startsWith('nobody@')
          ? { code: 550, message: 'No such user here' }
          : address.startsWith('busy@')
            ? { code: 451, message: 'Try again later' }
            : address.startsWith('spam@')
              ? { code: 550, message: '5.7.1 Relaying denied' }
              : undefined,
      rejectMessage: (mail) => (mail.subject === 'SPAM' ? { code: 554, message: '5.7.1 Message rejected as spam' } : undefined),
    });
    adapter = new EmailAdapter({ smtpUrl: smtp.url, from: FROM, unsubscribeMailto: 'unsubscribe@acme.test' }, links);
  });
  afterEach(async () => {
    await adapter.close();
    await smtp.close();
  });

  it('delivers subject, personalised HTML with tracked links and the open pixel, the text part, and the headers', async () => {
    const result = await adapter.send(delivery('ada@example.com'));
    const [mail] = await smtp.waitFor(1);

    expect(result.providerMessageId).toBe('<enr-1/reminder/0@herald.example.com>');
    expect(mail.messageId).toBe(result.providerMessageId);
    expect(mail.subject).toBe('Your cart, Ada');
    expect(mail.from?.value[0]).toMatchObject({ name: 'Acme', address: 'news@acme.test' });
    expect((Array.isArray(mail.to) ? mail.to[0] : mail.to)?.text).toBe('ada@example.com');
    expect(mail.text?.trim()).toBe('Hi Ada, your cart is waiting: https://shop.example.com/cart/c1');
    const html = mail.html as string;
    expect(html).toContain('Hi Ada, your cart is waiting.');

    // The shop link goes through a signed click redirect for this person and message; the unsubscribe link does not.
    const [shop, unsubscribe] = hrefs(html);
    expect(shop).toMatch(/^https:\/\/herald\.example\.com\/t\/c\/[\w-]+\.[\w-]+$/);
    expect(links.verify(shop.split('/t/c/')[1])).toEqual({
      k: 'c',
      w: 'default',
      p: 'user:ada',
      m: 'enr-1/reminder/0',
      ch: 'email',
      u: 'https://shop.example.com/cart/c1?utm_source=email&utm_campaign=cart',
    });
    expect(unsubscribe).toBe(delivery('x').links.unsubscribe);
    // The open pixel, before </body>.
    const pixel = /<img src="(https:\/\/herald\.example\.com\/t\/o\/([\w.-]+)\.gif)" width="1" height="1" alt=""/.exec(html);
    expect(pixel).not.toBeNull();
    expect(html.indexOf(pixel![0])).toBeLessThan(html.indexOf('</body>'));
    expect(links.verify(pixel![2])).toEqual({ k: 'o', w: 'default', p: 'user:ada', m: 'enr-1/reminder/0', ch: 'email' });

    // RFC 2369 + RFC 8058 headers; the mailto carries the signed token for whoever reads that mailbox.
    const token = delivery('x').links.unsubscribe!.split('/u/')[1];
    expect(rawHeader(mail, 'List-Unsubscribe')).toBe(
      `<https://herald.example.com/u/${token}>, <mailto:unsubscribe@acme.test?subject=unsubscribe%20${token}>`,
    );
    expect(rawHeader(mail, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
    expect(rawHeader(mail, 'X-Herald-Message-Id')).toBe('enr-1/reminder/0');
    expect(rawHeader(mail, 'Message-ID')).toBe('<enr-1/reminder/0@herald.example.com>');
  });

  it('leaves the mailto out when none is configured, and sends text-only messages without a pixel', async () => {
    const plain = new EmailAdapter({ smtpUrl: smtp.url, from: FROM }, links);
    try {
      await plain.send(delivery('bea@example.com', { content: { subject: 'Plain', text: 'Just text' } }));
    } finally {
      await plain.close();
    }
    const [mail] = await smtp.waitFor(1);
    expect(rawHeader(mail, 'List-Unsubscribe')).toBe(`<${delivery('x').links.unsubscribe}>`);
    expect(mail.html).toBe(false);
    expect(mail.text?.trim()).toBe('Just text');
  });

  it('delivers alike the messages the thread composes itself and the ones it leaves to nodemailer (non-Latin text, an address nodemailer rewrites)', async () => {
    const russian = 'Привет, Ада! Ваша корзина ждёт вас.';
    await adapter.send(delivery('ada@example.com', { messageId: 'm-composed' }));
    await adapter.send(delivery('ada@Example.COM', { messageId: 'm-address' }));
    await adapter.send(delivery('ada@example.com', { messageId: 'm-cyrillic', content: { subject: 'Корзина', text: russian, html: `<p>${russian}</p>` } }));
    const mails = await smtp.waitFor(3);
    const byId = new Map(mails.map((mail) => [rawHeader(mail, 'X-Herald-Message-Id'), mail]));

    const composed = byId.get('m-composed')!;
    const address = byId.get('m-address')!;
    for (const mail of [composed, address]) {
      expect(mail.subject).toBe('Your cart, Ada');
      expect(mail.text?.trim()).toBe('Hi Ada, your cart is waiting: https://shop.example.com/cart/c1');
      expect(mail.html).toContain('Hi Ada, your cart is waiting.');
      expect(rawHeader(mail, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
    }
    expect(rawHeader(composed, 'Message-ID')).toBe('<m-composed@herald.example.com>');
    expect((Array.isArray(address.to) ? address.to[0] : address.to)?.text).toBe('ada@example.com');

    const cyrillic = byId.get('m-cyrillic')!;
    expect(cyrillic.subject).toBe('Корзина');
    expect(cyrillic.text?.trim()).toBe(russian);
    expect(cyrillic.html).toContain(russian);
  });

  it('sends many messages concurrently over the pool', async () => {
    const sends = Array.from({ length: 25 }, (_, i) => adapter.send(delivery(`user${i}@example.com`, { messageId: `m-${i}` })));
    const results = await Promise.all(sends);
    await smtp.waitFor(25);
    expect(new Set(results.map((r) => r.providerMessageId)).size).toBe(25);
    expect(new Set(smtp.received.map((m) => m.messageId))).toEqual(new Set(results.map((r) => r.providerMessageId)));
  });


  it('gives each of the sends made together its own outcome (they travel to and from the thread in groups)', async () => {
    const to = ['a@example.com', 'nobody@example.com', 'b@example.com', 'busy@example.com', 'c@example.com', 'spam@example.com'];
    // All made in one turn of the event loop, so they reach the thread together; their answers come back together too.
    const outcomes = await Promise.all(to.map((address, i) => adapter.send(delivery(address, { messageId: `m-${i}` })).catch((e: unknown) => e)));
    expect(outcomes[0]).toEqual({ providerMessageId: '<m-0@herald.example.com>' });
    expect(outcomes[1]).toBeInstanceOf(PermanentDeliveryError);
    expect((outcomes[1] as PermanentDeliveryError).unreachable).toBe(true);
    expect(outcomes[2]).toEqual({ providerMessageId: '<m-2@herald.example.com>' });
    expect(outcomes[3]).toBeInstanceOf(TransientDeliveryError);
    expect(outcomes[4]).toEqual({ providerMessageId: '<m-4@herald.example.com>' });
    expect(outcomes[5]).toBeInstanceOf(PermanentDeliveryError);
    expect((outcomes[5] as PermanentDeliveryError).unreachable).toBe(false);
    await smtp.waitFor(3);
    expect(smtp.received.map((m) => m.messageId).sort()).toEqual(['<m-0@herald.example.com>', '<m-2@herald.example.com>', '<m-4@herald.example.com>']);
  });
  it('turns a 550 for the recipient into a bounce (permanent, unreachable)', async () => {
    const error = await adapter.send(delivery('nobody@example.com')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error).toMatchObject({ code: 'smtp_550', unreachable: true });
    expect((error as Error).message).toContain('No such user here');
  });

  it('treats a policy rejection (5.7.x) as permanent but not a bad address', async () => {
    expect(await adapter.send(delivery('spam@example.com')).catch((e: unknown) => e)).toMatchObject({ code: 'smtp_550', unreachable: false });
    const content = await adapter.send(delivery('ada@example.com', { content: { subject: 'SPAM', text: 'x' } })).catch((e: unknown) => e);
    expect(content).toBeInstanceOf(PermanentDeliveryError);
    expect(content).toMatchObject({ code: 'smtp_554', unreachable: false });
  });

  it('turns a 451 into a transient error', async () => {
    const error = await adapter.send(delivery('busy@example.com')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect((error as Error).message).toContain('451');
  });

  it('turns a refused connection into a transient error', async () => {
    const port = smtp.port;
    await smtp.close();
    const offline = new EmailAdapter({ smtpUrl: `smtp://127.0.0.1:${port}`, from: FROM }, links);
    try {
      expect(await offline.send(delivery('ada@example.com')).catch((e: unknown) => e)).toBeInstanceOf(TransientDeliveryError);
    } finally {
      await offline.close();
    }
    smtp = await startSmtpServer();
  });

  it('reports an unknown outcome, and sends nothing again, when the connection drops after the message was written', async () => {
    const dropping = await startDroppingSmtpServer();
    const fragile = new EmailAdapter({ smtpUrl: dropping.url, from: FROM }, links);
    try {
      const error = await fragile.send(delivery('ada@example.com')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OutcomeUnknownDeliveryError);
      expect(error).not.toBeInstanceOf(TransientDeliveryError);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Not sent again on a new connection (nodemailer's pool requeue is off).
      expect(dropping.messages()).toBe(1);
    } finally {
      await fragile.close();
      await dropping.close();
    }
  });
});

/** The adapter's SMTP thread, to end it the way a crash inside nodemailer would. */
function smtpWorkerOf(adapter: EmailAdapter): Worker {
  const worker = (adapter as unknown as { smtp: { running?: { worker: Worker } } }).smtp.running?.worker;
  if (!worker) throw new Error('the SMTP thread is not running');
  return worker;
}

describe('EmailAdapter: its SMTP thread', () => {
  let smtp: TestSmtpServer;
  beforeEach(async () => {
    smtp = await startSmtpServer();
  });
  afterEach(async () => {
    await smtp.close();
  });

  it('reports an unknown outcome when the thread stops during a send', async () => {
    const silent = await startDroppingSmtpServer({ silent: true });
    const stalled = new EmailAdapter({ smtpUrl: silent.url, from: FROM }, links);
    try {
      const sending = stalled.send(delivery('ada@example.com')).catch((e: unknown) => e);
      // The server has the whole message and will never answer: the send is in flight.
      while (silent.messages() < 1) await new Promise((resolve) => setTimeout(resolve, 20));
      await smtpWorkerOf(stalled).terminate();
      const error = await sending;
      expect(error).toBeInstanceOf(OutcomeUnknownDeliveryError);
      expect(error).not.toBeInstanceOf(TransientDeliveryError);
      expect(silent.messages()).toBe(1);
    } finally {
      await stalled.close();
      await silent.close();
    }
  });

  it('starts a new thread for the next send after the thread stopped', async () => {
    const adapter = new EmailAdapter({ smtpUrl: smtp.url, from: FROM }, links);
    try {
      await adapter.send(delivery('ada@example.com', { messageId: 'm-1' }));
      await smtpWorkerOf(adapter).terminate();
      await adapter.send(delivery('bea@example.com', { messageId: 'm-2' }));
      await smtp.waitFor(2);
      expect(smtp.received.map((mail) => mail.messageId)).toEqual(['<m-1@herald.example.com>', '<m-2@herald.example.com>']);
    } finally {
      await adapter.close();
    }
  });

  it('close lets the sends already made finish and ends the thread; a send after close is transient and sends nothing', async () => {
    const adapter = new EmailAdapter({ smtpUrl: smtp.url, from: FROM }, links);
    const sending = adapter.send(delivery('ada@example.com', { messageId: 'm-1' }));
    const worker = smtpWorkerOf(adapter);
    let exited = false;
    worker.once('exit', () => (exited = true));
    await adapter.close();
    expect(await sending).toEqual({ providerMessageId: '<m-1@herald.example.com>' });
    expect(exited).toBe(true);
    expect(await adapter.send(delivery('bea@example.com', { messageId: 'm-2' })).catch((e: unknown) => e)).toBeInstanceOf(TransientDeliveryError);
    expect(smtp.received.map((mail) => mail.messageId)).toEqual(['<m-1@herald.example.com>']);
  });
});

describe('addresses and ids', () => {
  it('takes traits.email only when it is one plain address', () => {
    const adapter = new EmailAdapter({ smtpUrl: 'smtp://127.0.0.1:1', from: FROM }, links);
    expect(adapter.address({ traits: { email: ' ada@example.com ' }, pushSubscriptions: [] })).toBe('ada@example.com');
    for (const email of ['', 'ada', 'Ada <ada@example.com>', 'a@b.com, c@d.com', 'a@b.com\r\nBcc: x@y.com', 'a@@b.com', '.a@b.com', 42]) {
      expect(adapter.address({ traits: { email }, pushSubscriptions: [] })).toBeUndefined();
    }
    expect(looksLikeEmail('first.last+tag@sub.example.co.uk')).toBe(true);
    void adapter.close();
  });

  it('derives the Message-ID from the message id, sanitising what is not a dot-atom', () => {
    expect(messageIdHeader('enr-1/step/0', 'h.test')).toBe('<enr-1/step/0@h.test>');
    const odd = messageIdHeader('a b<c>@d', 'h.test');
    expect(odd).toMatch(/^<a-b-c-d\.[0-9a-f]{16}@h\.test>$/);
    expect(messageIdHeader('a b<c>@e', 'h.test')).not.toBe(odd);
  });
});
