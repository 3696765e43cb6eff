/**
 * The suppression list through the whole app: scenarios published and triggered over HTTP, a real
 * local SMTP server that answers 550 for a dead mailbox (or 451 for a busy one), DSNs posted to the
 * report intake, the test clock. A permanent bounce suppresses the address for marketing and
 * transactional email; a new address is sent to; an admin lifts the suppression; transient failures
 * suppress nothing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import MimeNode from 'nodemailer/lib/mime-node';
import { TestClock } from '../../shared/clock';
import { adminGet, adminSend, eventually, post, startTestApp, TEST_ADMIN_TOKEN, type TestApp } from '../../test-support/herald-test-app';
import { startSmtpServer, type TestSmtpServer } from '../email/smtp-server.fixture';

const HOUR = 3_600_000;
const examples = join(__dirname, '../../../../examples');
let smtp: TestSmtpServer;
let herald: TestApp;
let clock: TestClock;
/** Mailboxes the SMTP server refuses for good, and ones it asks to try later. */
let dead: Set<string>;
let busy: Set<string>;

beforeEach(async () => {
  dead = new Set(['dead@example.com']);
  busy = new Set();
  smtp = await startSmtpServer({
    rejectRecipient: (address) =>
      dead.has(address) ? { code: 550, message: '5.1.1 No such user' } : busy.has(address) ? { code: 451, message: '4.2.1 Mailbox busy, try later' } : undefined,
  });
  clock = new TestClock(new Date('2026-03-02T09:00:00Z'));
  herald = await startTestApp({
    clock,
    env: { SMTP_URL: smtp.url, EMAIL_FROM: 'Acme <shop@acme.test>', PUBLIC_URL: 'https://herald.test', DISPATCH_MAX_ATTEMPTS: '1' },
  });
  // A marketing email and the transactional service notification, both triggered through the API.
  expect(
    (
      await adminSend('POST', `${herald.url}/api/scenarios`, {
        id: 'news',
        name: 'News (API)',
        trigger: { api: true },
        entry: { reenter: 'always', concurrent: true },
        steps: [{ id: 'announce', send: { channel: 'email', template: 'service-notification' } }],
      })
    ).status,
  ).toBe(201);
  const notification = readFileSync(join(examples, 'scenarios/service-notification.yaml'), 'utf8');
  expect((await adminSend('POST', `${herald.url}/api/scenarios`, notification, 'application/yaml')).status).toBe(201);
});
afterEach(async () => {
  await herald.destroy();
  await smtp.close();
});

type Logged = { id: string; type: string; data: Record<string, any> };
const events = async (userId: string): Promise<Logged[]> => (await adminGet(`${herald.url}/api/users/${userId}/events`)).body.events;
const identify = (userId: string, email: string) => post(`${herald.url}/v1/identify`, { userId, traits: { email, first_name: 'Ada' } });
const FINAL = ['MessageSent', 'MessageBounced', 'MessageFailed', 'MessageSuppressed', 'MessageOutcomeUnknown'];
let keys = 0;

/** Triggers `scenario` for the user an hour later, and waits for the message's outcome. */
async function send(scenario: 'news' | 'service-notification', userId: string): Promise<Logged> {
  clock.advance(HOUR);
  const response = await fetch(`${herald.url}/api/scenarios/${scenario}/trigger`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json', 'idempotency-key': `k-${++keys}` },
    body: JSON.stringify({ userId, properties: { subject: 'Your account', message: 'Something changed.' } }),
  });
  expect(response.status).toBe(202);
  const queued = (((await response.json()) as { decisions: unknown }).decisions as Array<{ type: string; messageId: string }>).find((d) => d.type === 'MessageQueued');
  expect(queued).toBeDefined();
  return eventually(async () => (await events(userId)).find((e) => e.data?.messageId === queued!.messageId && FINAL.includes(e.type)));
}

/** A DSN (RFC 3464) about a message the SMTP server received, as a relay sends it when it gives up. */
function dsn(original: Buffer, status: string): Promise<Buffer> {
  const root = new MimeNode('multipart/report; report-type=delivery-status');
  root.setHeader({ From: 'MAILER-DAEMON@relay.example', To: 'shop@acme.test', Subject: 'Undelivered Mail Returned to Sender', 'MIME-Version': '1.0' });
  root.createChild('text/plain').setContent('Your message could not be delivered.');
  root
    .createChild('message/delivery-status')
    .setContent(
      `Reporting-MTA: dns; relay.example\r\n\r\nFinal-Recipient: rfc822; ada@example.com\r\nAction: failed\r\nStatus: ${status}\r\n` +
        `Diagnostic-Code: smtp; ${status.startsWith('5') ? '550' : '452'} ${status} mailbox problem\r\n`,
    );
  const source = original.toString('utf8');
  root.createChild('text/rfc822-headers').setContent(source.slice(0, source.indexOf('\r\n\r\n') + 2));
  return root.build();
}

async function postDsn(original: Buffer, status: string) {
  const intake = await adminGet(`${herald.url}/api/webhooks/email/feedback-url?workspace=default`);
  const url = `${herald.url}${new URL(intake.body.url).pathname}`;
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'message/rfc822' }, body: await dsn(original, status) });
  expect(response.status).toBe(200);
  return response.json();
}

describe('suppression list', () => {
  it('a 550 suppresses the address for marketing and transactional email; a new address is sent; an admin lift sends again', async () => {
    await identify('ada', 'dead@example.com');
    const bounce = await send('news', 'ada');
    expect(bounce).toMatchObject({ type: 'MessageBounced', data: { reason: 'rejected', code: 'smtp_550' } });

    const marketing = await send('news', 'ada');
    expect(marketing.type).toBe('MessageSuppressed');
    expect(marketing.data).toMatchObject({ reason: 'bounced_address', stage: 'dispatch', address: 'dead@example.com', suppressedBy: bounce.id });
    expect(marketing.data.bounce).toMatchObject({ messageId: bounce.data.messageId, type: 'MessageBounced', code: 'smtp_550' });
    const transactional = await send('service-notification', 'ada');
    expect(transactional.data).toMatchObject({ reason: 'bounced_address', suppressedBy: bounce.id });
    // Neither reached the SMTP server: one RCPT refused, nothing else tried.
    expect((await events('ada')).filter((e) => e.type === 'MessageDispatching')).toHaveLength(1);

    const profile = await adminGet(`${herald.url}/api/users/ada`);
    expect(profile.body.suppressions).toEqual([
      { channel: 'email', address: 'dead@example.com', since: '2026-03-02T10:00:00.000Z', suppressedBy: bounce.id, cause: { type: 'MessageBounced', messageId: bounce.data.messageId, code: 'smtp_550' } },
    ]);

    // Explain names the bounce.
    const explained = await adminGet(`${herald.url}/api/users/ada/explain?message=${encodeURIComponent(marketing.data.messageId)}`);
    expect(explained.status).toBe(200);
    expect(explained.body).toMatchObject({ status: 'suppressed', reason: 'bounced_address', delivery: { state: 'not_sent' }, suppressedBy: { id: bounce.id, type: 'MessageBounced' } });
    expect(explained.body.chain.map((e: Logged) => e.id)).toContain(bounce.id);

    // The person gives a new address: it is not suppressed.
    await identify('ada', 'ada@example.com');
    expect((await send('news', 'ada')).type).toBe('MessageSent');
    expect((await smtp.waitFor(1)).map((m) => m.to && (m.to as { text: string }).text)).toEqual(['ada@example.com']);

    // Back to the dead address: still suppressed, per address.
    await identify('ada', 'dead@example.com');
    expect((await send('news', 'ada')).data).toMatchObject({ reason: 'bounced_address', address: 'dead@example.com' });

    // The mailbox works again and an admin lifts the suppression.
    dead.clear();
    const lifted = await adminSend('DELETE', `${herald.url}/api/users/ada/suppressions/email`);
    expect(lifted).toEqual({
      status: 200,
      body: { workspace: 'default', userId: 'ada', channel: 'email', lifted: [{ address: 'dead@example.com', suppressedBy: bounce.id }] },
    });
    expect((await events('ada')).filter((e) => e.type === 'AddressUnsuppressed').map((e) => e.data)).toEqual([
      { channel: 'email', address: 'dead@example.com', suppressedBy: bounce.id, source: 'admin' },
    ]);
    expect((await adminGet(`${herald.url}/api/users/ada`)).body.suppressions).toEqual([]);
    expect((await send('news', 'ada')).type).toBe('MessageSent');
    expect(smtp.received.map((m) => (m.to as { text: string }).text)).toEqual(['ada@example.com', 'dead@example.com']);
  });

  it('refuses a lift for an unknown user, an unknown channel or when nothing is suppressed, and stores nothing', async () => {
    await identify('ada', 'ada@example.com');
    expect((await send('news', 'ada')).type).toBe('MessageSent');
    const before = (await events('ada')).length;

    const nothing = await adminSend('DELETE', `${herald.url}/api/users/ada/suppressions/email`);
    expect(nothing).toEqual({ status: 404, body: { error: 'not_found', message: 'No email address of user ada is suppressed' } });
    const channel = await adminSend('DELETE', `${herald.url}/api/users/ada/suppressions/fax`);
    expect(channel.status).toBe(400);
    expect(channel.body).toMatchObject({ error: 'bad_request', path: 'channel', message: expect.stringContaining('channel must be one of email, sms') });
    const user = await adminSend('DELETE', `${herald.url}/api/users/nobody/suppressions/email`);
    expect(user).toEqual({ status: 404, body: { error: 'not_found', message: 'No user nobody in workspace default' } });
    const unauthorized = await fetch(`${herald.url}/api/users/ada/suppressions/email`, { method: 'DELETE' });
    expect(unauthorized.status).toBe(401);
    expect(await events('ada')).toHaveLength(before);
  });

  it('a DSN that reports a permanent failure suppresses the address too', async () => {
    await identify('ada', 'ada@example.com');
    expect((await send('news', 'ada')).type).toBe('MessageSent');
    await smtp.waitFor(1);
    const original = smtp.sources[0];

    expect(await postDsn(original, '5.1.1')).toMatchObject({ recorded: 1, types: ['MessageBounced'] });
    const bounce = (await events('ada')).find((e) => e.type === 'MessageBounced')!;
    expect(bounce.data).toMatchObject({ reason: 'dsn', permanent: true });

    const next = await send('service-notification', 'ada');
    expect(next.type).toBe('MessageSuppressed');
    expect(next.data).toMatchObject({ reason: 'bounced_address', address: 'ada@example.com', suppressedBy: bounce.id });
    expect(smtp.received).toHaveLength(1);
  });

  it('transient failures suppress nothing: a 451 at send time, a DSN with a 4.x.x status', async () => {
    busy.add('ada@example.com');
    await identify('ada', 'ada@example.com');
    expect((await send('news', 'ada')).data).toMatchObject({ reason: 'retries_exhausted' });
    busy.clear();
    expect((await send('news', 'ada')).type).toBe('MessageSent');

    expect(await postDsn(smtp.sources[0], '4.2.2')).toMatchObject({ recorded: 1, types: ['MessageBounced'] });
    expect((await events('ada')).find((e) => e.type === 'MessageBounced')!.data).toMatchObject({ permanent: false });
    expect((await send('news', 'ada')).type).toBe('MessageSent');
    expect((await adminGet(`${herald.url}/api/users/ada`)).body.suppressions).toEqual([]);
    expect(smtp.received).toHaveLength(2);
  });
});
