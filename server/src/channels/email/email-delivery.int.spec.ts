/**
 * The email path end to end without the rest of the app: the real dispatcher (intent, send, outcome)
 * with the EmailAdapter into a real SMTP server, the real SQLite log, and the tracking, unsubscribe
 * and preference endpoints served over HTTP by Nest on Fastify with Herald's body parser. Only the
 * renderer is a stand-in (templates are tested on their own).
 */
import { userStream } from '@herald/projections';
import type { ParsedMail } from 'mailparser';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { EVENT_STORE, type EventStore } from '../../event-store/event-store.port';
import { SqliteEventStore } from '../../event-store/sqlite/sqlite-event-store';
import { registerJsonBodyParser } from '../../http/body-parsers';
import { CLOCK, systemClock } from '../../shared/clock';
import { uuidv7 } from '../../shared/ids';
import { openStateDb, type StateDb } from '../../state/state-db';
import { tempDataDir } from '../../test-support/herald-test-app';
import { Dispatcher } from '../dispatcher.projection';
import { LinkSigner } from '../link-signer';
import type { MessageRenderer } from '../renderer.port';
import { subscriptionControllers, subscriptionProviders } from '../subscriptions/subscriptions.providers';
import { EmailAdapter } from './email.adapter';
import { startDroppingSmtpServer, startSmtpServer, type TestSmtpServer } from './smtp-server.fixture';
import { emailControllers } from './email.providers';

const PUBLIC = 'https://herald.test';
const renderer: MessageRenderer = {
  async render({ variables }) {
    const name = String(variables.user.first_name ?? 'there');
    return {
      subject: `Your cart, ${name}`,
      html: `<html><body><p>Hi ${name}</p><a href="https://shop.example.com/cart/${String(variables.event.cart_id)}">Return to your cart</a>
<a href="${variables.message.unsubscribe_url}">Unsubscribe</a> <a href="${variables.message.preferences_url}">Preferences</a></body></html>`,
      text: `Hi ${name}, your cart: https://shop.example.com/cart/${String(variables.event.cart_id)}`,
    };
  },
};

let dir: string;
let store: EventStore;
let db: StateDb;
let smtp: TestSmtpServer;
let adapter: EmailAdapter;
let dispatcher: Dispatcher;
let app: NestFastifyApplication;
let base: string;
const links = new LinkSigner(Buffer.from('int-test-secret'), PUBLIC);

beforeEach(async () => {
  dir = tempDataDir();
  store = new SqliteEventStore({ path: join(dir, 'events.sqlite') });
  db = openStateDb(join(dir, 'state.sqlite'));
  smtp = await startSmtpServer({ rejectRecipient: (address) => (address.startsWith('gone@') ? { code: 550, message: '5.1.1 No such user' } : undefined) });
  adapter = new EmailAdapter({ smtpUrl: smtp.url, from: 'Acme <shop@acme.test>' }, links);
  dispatcher = new Dispatcher(db, store, { email: adapter }, renderer, links, systemClock, { retryBaseMs: 5 });
  const moduleRef = await Test.createTestingModule({
    controllers: [...emailControllers(), ...subscriptionControllers()],
    providers: [
      { provide: EVENT_STORE, useValue: store },
      { provide: CLOCK, useValue: systemClock },
      { provide: LinkSigner, useValue: links },
      ...subscriptionProviders(),
    ],
  }).compile();
  // Signed tokens are longer than Fastify's default limit of 100 characters for a path parameter (app.ts raises it too).
  app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter({ routerOptions: { maxParamLength: 4096 } }), { bodyParser: false, logger: false });
  registerJsonBodyParser(app.getHttpAdapter().getInstance());
  await app.init();
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
});

afterEach(async () => {
  await app.close();
  await adapter.close();
  await smtp.close();
  await store.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const stream = (user: string) => userStream('default', user);
const now = () => new Date().toISOString();
const meta = () => ({ workspace: 'default', occurredAt: now(), receivedAt: now(), schemaVersion: 1 });

async function identify(user: string, traits: Record<string, unknown>) {
  await store.append(stream(user), [{ id: uuidv7(), type: 'Identified', data: { traits }, metadata: meta() }]);
}

/** Queues a message the way the scenario engine does, and lets the dispatcher handle it; `meanwhile` runs in between. */
async function queueAndDispatch(user: string, messageId: string, meanwhile?: () => Promise<unknown>): Promise<void> {
  const id = uuidv7();
  const { nextExpectedRevision: revision } = await store.append(stream(user), [
    {
      id,
      type: 'MessageQueued',
      data: {
        messageId,
        enrollmentId: 'enr-1',
        scenarioId: 'abandoned-cart',
        stepId: 'reminder',
        channel: 'email',
        template: 'cart-plain',
        transactional: false,
        variables: { user: {}, event: { cart_id: 'c1' }, trigger: { cart_id: 'c1' } },
        checks: { subscribed: true, caps: [], quietHours: 'none', timezone: 'UTC' },
      },
      metadata: meta(),
    },
  ]);
  await meanwhile?.();
  const [queued] = await store.readStream(stream(user), { fromRevision: revision, maxCount: 1 });
  expect(queued.id).toBe(id);
  await dispatcher.handle(queued);
  await dispatcher.drain();
}

const events = async (user: string, type: string) => (await store.readStream(stream(user))).filter((e) => e.type === type);
/** The path of one of our public links, on the test server. */
const local = (link: string) => `${base}${new URL(link).pathname}`;
const header = (mail: ParsedMail, name: string) =>
  mail.headerLines.find((h) => h.key === name)?.line.replace(/^[^:]+:\s*/, '').replace(/\r?\n[ \t]+/g, ' ');

describe('email delivery, tracking and unsubscribe', () => {
  it('sends, tracks the open and the click, and a one-click unsubscribe suppresses the next send', async () => {
    await identify('ada', { email: 'ada@example.com', first_name: 'Ada' });
    await queueAndDispatch('ada', 'enr-1/reminder/0');

    const [mail] = await smtp.waitFor(1);
    expect(mail.subject).toBe('Your cart, Ada');
    const [sent] = await events('ada', 'MessageSent');
    expect(sent.data).toMatchObject({ messageId: 'enr-1/reminder/0', provider: 'smtp', providerMessageId: '<enr-1/reminder/0@herald.test>', to: 'ada@example.com' });
    expect(mail.messageId).toBe('<enr-1/reminder/0@herald.test>');

    // Click: 302 to exactly the signed target, recorded.
    const html = mail.html as string;
    const click = /href="(https:\/\/herald\.test\/t\/c\/[^"]+)"/.exec(html)![1];
    // A link checker's HEAD is answered but is not a click.
    expect((await fetch(local(click), { method: 'HEAD', redirect: 'manual' })).status).toBe(302);
    const redirect = await fetch(local(click), { redirect: 'manual', headers: { 'user-agent': 'TestMail/1.0' } });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('https://shop.example.com/cart/c1');
    expect((await events('ada', 'MessageClicked')).map((e) => e.data)).toEqual([
      { messageId: 'enr-1/reminder/0', channel: 'email', url: 'https://shop.example.com/cart/c1', userAgent: 'TestMail/1.0' },
    ]);

    // Open: a GIF, recorded each time (raw facts; analytics counts unique opens).
    const pixel = /<img src="(https:\/\/herald\.test\/t\/o\/[^"]+\.gif)"/.exec(html)![1];
    for (let i = 0; i < 2; i++) {
      const open = await fetch(local(pixel), { headers: { 'user-agent': 'TestMail/1.0' } });
      expect(open.status).toBe(200);
      expect(open.headers.get('content-type')).toBe('image/gif');
      expect(Buffer.from(await open.arrayBuffer()).subarray(0, 6).toString()).toBe('GIF89a');
    }
    expect((await events('ada', 'MessageOpened')).map((e) => e.data)).toEqual([
      { messageId: 'enr-1/reminder/0', channel: 'email', userAgent: 'TestMail/1.0' },
      { messageId: 'enr-1/reminder/0', channel: 'email', userAgent: 'TestMail/1.0' },
    ]);

    // RFC 8058 one-click, exactly as a mail client does it: POST the List-Unsubscribe https URL. Twice at once.
    const oneClick = /<(https:[^>]+)>/.exec(header(mail, 'list-unsubscribe')!)![1];
    expect(header(mail, 'list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    const posts = await Promise.all(
      [0, 1].map(() =>
        fetch(local(oneClick), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' }),
      ),
    );
    for (const post of posts) {
      expect(post.status).toBe(200);
      expect(await post.text()).toBe('');
    }
    expect((await events('ada', 'Unsubscribed')).map((e) => e.data)).toEqual([{ channel: 'email', source: 'one-click', messageId: 'enr-1/reminder/0' }]);

    // The next message is suppressed by the dispatcher before any SMTP call.
    await queueAndDispatch('ada', 'enr-1/reminder/1');
    expect((await events('ada', 'MessageSuppressed')).map((e) => e.data)).toEqual([
      expect.objectContaining({ messageId: 'enr-1/reminder/1', reason: 'unsubscribed', stage: 'dispatch' }),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(smtp.received).toHaveLength(1);

    // Back on through the preference page linked from the email: the next one is sent again.
    const preferences = /href="(https:\/\/herald\.test\/preferences\/[^"]+)"/.exec(html)![1];
    const page = await fetch(local(preferences));
    expect(page.status).toBe(200);
    const form = await page.text();
    expect(form).toMatch(/<input type="checkbox" id="pref-email" name="subscribed" value="email">/);
    expect(form).toMatch(/<input type="checkbox" id="pref-sms" name="subscribed" value="sms" checked>/);
    const body = new URLSearchParams();
    for (const channel of ['email', 'sms', 'whatsapp', 'telegram', 'push', 'in_app']) body.append('shown', channel);
    for (const channel of ['email', 'sms', 'whatsapp', 'telegram', 'push']) body.append('subscribed', channel);
    const saved = await fetch(local(preferences), { method: 'POST', body });
    expect(saved.status).toBe(200);
    expect(await saved.text()).toContain('Your preferences are saved.');
    expect((await events('ada', 'Subscribed')).map((e) => e.data)).toEqual([{ channel: 'email', source: 'preferences' }]);
    expect((await events('ada', 'Unsubscribed')).map((e) => e.data)).toEqual([
      { channel: 'email', source: 'one-click', messageId: 'enr-1/reminder/0' },
      { channel: 'in_app', source: 'preferences' },
    ]);
    await queueAndDispatch('ada', 'enr-1/reminder/2');
    await smtp.waitFor(2);
  });

  it('a person it sent to before: an unsubscribe or a new address recorded after the next message was queued still counts', async () => {
    await identify('eve', { email: 'eve@example.com' });
    await queueAndDispatch('eve', 'enr-2/reminder/0');
    await queueAndDispatch('eve', 'enr-2/reminder/1', () => identify('eve', { email: 'eve@new.example.com' }));
    await queueAndDispatch('eve', 'enr-2/reminder/2', () =>
      store.append(stream('eve'), [{ id: uuidv7(), type: 'Unsubscribed', data: { channel: 'email', source: 'one-click' }, metadata: meta() }]),
    );
    await smtp.waitFor(2);
    expect(smtp.received.map((mail) => (Array.isArray(mail.to) ? mail.to[0] : mail.to)?.text)).toEqual(['eve@example.com', 'eve@new.example.com']);
    expect((await events('eve', 'MessageSuppressed')).map((e) => e.data)).toEqual([
      expect.objectContaining({ messageId: 'enr-2/reminder/2', reason: 'unsubscribed', stage: 'dispatch' }),
    ]);
  });

  it('a person followed from their first event is folded from the batches, not read whole; what the batches missed is read and counts', async () => {
    const reads = jest.spyOn(store, 'readStream');
    /** The batch the runner would hand the dispatcher: the stream's events from `fromRevision`. */
    const preload = async (user: string, fromRevision: number) => dispatcher.preload(await store.readStream(stream(user), { fromRevision }));
    const revision = async (user: string) => (await store.readStream(stream(user), { direction: 'backwards', maxCount: 1 }))[0].revision;
    // Fay's stream starts in a batch the dispatcher sees.
    await identify('fay', { email: 'fay@example.com' });
    await preload('fay', 0);
    await queueAndDispatch('fay', 'enr-3/reminder/0', async () => preload('fay', await revision('fay')));
    // An unsubscribe recorded after the batch was folded still stops the next message.
    await queueAndDispatch('fay', 'enr-3/reminder/1', async () => {
      await preload('fay', await revision('fay'));
      await store.append(stream('fay'), [{ id: uuidv7(), type: 'Unsubscribed', data: { channel: 'email', source: 'one-click' }, metadata: meta() }]);
    });
    // Hal's new address is in no batch the dispatcher saw: the batch after it does not continue his view, and it is read.
    await identify('hal', { email: 'hal@example.com' });
    await preload('hal', 0);
    await identify('hal', { email: 'hal@new.example.com' });
    await queueAndDispatch('hal', 'enr-4/reminder/0', async () => preload('hal', await revision('hal')));
    await smtp.waitFor(2);

    const wholeReads = reads.mock.calls.filter(([, options]) => !options?.fromRevision && options?.direction !== 'backwards');
    // Only the test's own two batches from revision 0: the dispatcher read no stream whole.
    expect(wholeReads.length).toBe(2);
    expect(smtp.received.map((mail) => (Array.isArray(mail.to) ? mail.to[0] : mail.to)?.text)).toEqual(['fay@example.com', 'hal@new.example.com']);
    expect((await events('fay', 'MessageSuppressed')).map((e) => e.data)).toEqual([
      expect.objectContaining({ messageId: 'enr-3/reminder/1', reason: 'unsubscribed', stage: 'dispatch' }),
    ]);
  });

  it('records a 550 for the recipient as MessageBounced', async () => {
    await identify('gus', { email: 'gone@example.com' });
    await queueAndDispatch('gus', 'enr-9/reminder/0');
    const [bounce] = await events('gus', 'MessageBounced');
    expect(bounce.data).toMatchObject({ messageId: 'enr-9/reminder/0', provider: 'smtp', code: 'smtp_550', reason: 'rejected' });
    expect(await events('gus', 'MessageSent')).toEqual([]);
  });

  it('records MessageOutcomeUnknown, and does not send again, when the connection drops after the message was written', async () => {
    const dropping = await startDroppingSmtpServer();
    const fragile = new EmailAdapter({ smtpUrl: dropping.url, from: 'Acme <shop@acme.test>' }, links);
    dispatcher = new Dispatcher(db, store, { email: fragile }, renderer, links, systemClock, { retryBaseMs: 5 });
    try {
      await identify('una', { email: 'una@example.com' });
      await queueAndDispatch('una', 'enr-7/reminder/0');
      const types = (await store.readStream(stream('una'))).map((e) => e.type);
      expect(types).toEqual(['Identified', 'MessageQueued', 'MessageDispatching', 'MessageOutcomeUnknown']);
      expect((await events('una', 'MessageOutcomeUnknown'))[0].data).toMatchObject({ messageId: 'enr-7/reminder/0', provider: 'smtp', attempt: 1 });
      expect(dropping.messages()).toBe(1);
    } finally {
      await fragile.close();
      await dropping.close();
    }
  });

  it('after a crash between the intent and the answer, a restart records MessageOutcomeUnknown and sends nothing again', async () => {
    // The process "dies" once the SMTP server has the message and before the answer is recorded: the call never returns.
    const dying = {
      channel: adapter.channel,
      provider: adapter.provider,
      safeToRetry: adapter.safeToRetry,
      address: adapter.address.bind(adapter),
      send: async (delivery: Parameters<EmailAdapter['send']>[0]) => {
        await adapter.send(delivery);
        return new Promise<never>(() => undefined);
      },
    };
    await identify('ivy', { email: 'ivy@example.com' });
    const { nextExpectedRevision } = await store.append(stream('ivy'), [
      {
        id: uuidv7(),
        type: 'MessageQueued',
        data: {
          messageId: 'enr-8/reminder/0',
          enrollmentId: 'enr-8',
          scenarioId: 'abandoned-cart',
          stepId: 'reminder',
          channel: 'email',
          template: 'cart-plain',
          transactional: false,
          variables: { user: {}, event: { cart_id: 'c8' }, trigger: { cart_id: 'c8' } },
          checks: { subscribed: true, caps: [], quietHours: 'none', timezone: 'UTC' },
        },
        metadata: meta(),
      },
    ]);
    const [queued] = await store.readStream(stream('ivy'), { fromRevision: nextExpectedRevision, maxCount: 1 });
    const dead = new Dispatcher(db, store, { email: dying }, renderer, links, systemClock, { retryBaseMs: 5 });
    await dead.handle(queued);
    // The runner commits the batch with the dispatcher's state (the in-flight row) before the "crash".
    db.transaction(() => dead.flush())();
    await smtp.waitFor(1);

    const restarted = new Dispatcher(db, store, { email: adapter }, renderer, links, systemClock, { retryBaseMs: 5 });
    await restarted.recover();
    await restarted.drain();
    expect((await store.readStream(stream('ivy'))).map((e) => e.type)).toEqual(['Identified', 'MessageQueued', 'MessageDispatching', 'MessageOutcomeUnknown']);
    expect((await events('ivy', 'MessageOutcomeUnknown'))[0].data).toMatchObject({ messageId: 'enr-8/reminder/0', provider: 'smtp', attempt: 1 });
    // A second recovery finds nothing left in flight.
    await restarted.recover();
    await restarted.drain();
    expect(await events('ivy', 'MessageDispatching')).toHaveLength(1);
    expect(smtp.received).toHaveLength(1);
  });

  it('shows a confirmation page on GET that links to the preference page, unsubscribes on the page POST, and accepts multipart one-click', async () => {
    await identify('bea', { email: 'bea@example.com' });
    const token = links.sign({ k: 'u', w: 'default', p: 'user:bea', m: 'm-1', ch: 'sms' });
    const get = await fetch(`${base}/u/${token}`);
    expect(get.status).toBe(200);
    expect(get.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(get.headers.get('referrer-policy')).toBe('no-referrer');
    const page = await get.text();
    expect(page).toContain('Unsubscribe from SMS messages?');
    expect(await events('bea', 'Unsubscribed')).toEqual([]);
    // The link every message carries (List-Unsubscribe for email) leads on to the person's preference page.
    const preferences = await fetch(local(/href="(https:\/\/herald\.test\/preferences\/[^"]+)"/.exec(page)![1]));
    expect(preferences.status).toBe(200);
    expect(await preferences.text()).toContain('<input type="checkbox" id="pref-sms" name="subscribed" value="sms" checked>');

    const confirm = await fetch(`${base}/u/${token}`, { method: 'POST', body: new URLSearchParams({ confirm: 'unsubscribe' }) });
    expect(confirm.status).toBe(200);
    expect(await confirm.text()).toContain('You will no longer receive SMS messages from us.');
    expect((await events('bea', 'Unsubscribed')).map((e) => e.data)).toEqual([{ channel: 'sms', source: 'page', messageId: 'm-1' }]);

    const form = new FormData();
    form.append('List-Unsubscribe', 'One-Click');
    const emailToken = links.sign({ k: 'u', w: 'default', p: 'user:bea', m: 'm-2', ch: 'email' });
    const multipart = await fetch(`${base}/u/${emailToken}`, { method: 'POST', body: form });
    expect(multipart.status).toBe(200);
    expect((await events('bea', 'Unsubscribed')).map((e) => (e.data as { channel: string }).channel)).toEqual(['sms', 'email']);
  });

  it('answers forged or altered tokens with 400 (a GIF for the pixel) and records nothing', async () => {
    await identify('eve', { email: 'eve@example.com' });
    const click = links.sign({ k: 'c', w: 'default', p: 'user:eve', m: 'm', ch: 'email', u: 'https://shop.example.com/' });
    const [body, mac] = click.split('.');
    const altered = `${Buffer.from(JSON.stringify({ k: 'c', w: 'default', p: 'user:eve', m: 'm', ch: 'email', u: 'https://evil.example/' })).toString('base64url')}.${mac}`;
    const forged = links.sign({ k: 'c', w: 'default', p: 'user:eve', m: 'm', u: 'https://x' }).replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    for (const token of [altered, forged, `${body}.`, 'nonsense', links.sign({ k: 'u', w: 'default', p: 'user:eve', ch: 'email' })]) {
      const response = await fetch(`${base}/t/c/${token}`, { redirect: 'manual' });
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
    }
    const gif = await fetch(`${base}/t/o/${altered}.gif`);
    expect(gif.status).toBe(200);
    expect(gif.headers.get('content-type')).toBe('image/gif');
    const wrongKind = links.sign({ k: 'p', w: 'default', p: 'user:eve' });
    const unsubscribeWithPreferencesToken = await fetch(`${base}/u/${wrongKind}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(unsubscribeWithPreferencesToken.status).toBe(400);
    const alteredUnsubscribe = links.sign({ k: 'u', w: 'default', p: 'user:eve', ch: 'email' }).replace('.', 'x.');
    expect((await fetch(`${base}/u/${alteredUnsubscribe}`, { method: 'POST', body: new URLSearchParams({ confirm: 'unsubscribe' }) })).status).toBe(400);
    expect((await fetch(`${base}/preferences/${links.sign({ k: 'u', w: 'default', p: 'user:eve', ch: 'email' })}`)).status).toBe(400);
    const types = (await store.readStream(stream('eve'))).map((e) => e.type);
    expect(types).toEqual(['Identified']);
  });
});
