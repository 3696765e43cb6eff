/**
 * Complaint (ARF) and bounce (DSN) reports through HTTP, about an email the app really sent to a
 * local SMTP server: the report embeds that email as a provider's feedback loop or a relay would,
 * built with nodemailer's MIME builder.
 */
import { userStream } from '@herald/projections';
import MimeNode from 'nodemailer/lib/mime-node';
import { EVENT_STORE, type EventStore } from '../../event-store/event-store.port';
import { uuidv7 } from '../../shared/ids';
import { adminGet, eventually, post, startTestApp, type TestApp } from '../../test-support/herald-test-app';
import { EmailFeedback } from './feedback.service';
import { startSmtpServer, type TestSmtpServer } from './smtp-server.fixture';

const PUBLIC = 'https://herald.test';
let smtp: TestSmtpServer;
let herald: TestApp;

beforeEach(async () => {
  smtp = await startSmtpServer();
  herald = await startTestApp({ env: { SMTP_URL: smtp.url, EMAIL_FROM: 'Acme <shop@acme.test>', PUBLIC_URL: PUBLIC } });
});
afterEach(async () => {
  await herald.destroy();
  await smtp.close();
});

type Logged = { type: string; data: Record<string, any> };
const events = async (userId: string): Promise<Logged[]> => (await adminGet(`${herald.url}/api/users/${userId}/events`)).body.events as Logged[];
const ofType = async (userId: string, type: string) => (await events(userId)).filter((e) => e.type === type);

async function queue(userId: string, messageId: string, transactional = false) {
  const now = new Date().toISOString();
  await herald.app.get<EventStore>(EVENT_STORE).append(userStream('default', userId), [
    {
      id: uuidv7(),
      type: 'MessageQueued',
      data: {
        messageId,
        enrollmentId: 'enr-fbl',
        scenarioId: 'abandoned-cart',
        stepId: 'reminder',
        channel: 'email',
        template: 'cart-plain',
        transactional,
        variables: { user: {}, event: { cart_id: 'c42' }, trigger: { cart_id: 'c42' } },
        checks: { subscribed: true, caps: [], quietHours: 'none', timezone: 'UTC' },
      },
      metadata: { workspace: 'default', occurredAt: now, receivedAt: now, schemaVersion: 1 },
    },
  ]);
}

/** Sends one email to `userId` through the app and returns its raw source as the SMTP server got it. */
async function sendOne(userId: string, messageId: string): Promise<Buffer> {
  const before = smtp.sources.length;
  await post(`${herald.url}/v1/identify`, { userId, traits: { email: `${userId}@example.com`, first_name: userId } });
  await queue(userId, messageId);
  await smtp.waitFor(before + 1);
  await eventually(async () => (await ofType(userId, 'MessageSent')).length > 0);
  return smtp.sources[before];
}

/** An ARF report (RFC 5965) as a mailbox provider's feedback loop sends it. */
function arf(original: Buffer | string, options: { feedbackType?: string; headersOnly?: boolean } = {}): Promise<Buffer> {
  const root = new MimeNode('multipart/report; report-type=feedback-report');
  root.setHeader({ From: 'FBL <fbl@mail.example>', To: 'abuse@acme.test', Subject: 'Abuse report', 'MIME-Version': '1.0' });
  root.createChild('text/plain').setContent('This is an email abuse report for an email message received from IP 127.0.0.1.');
  root
    .createChild('message/feedback-report')
    .setContent(`Feedback-Type: ${options.feedbackType ?? 'abuse'}\r\nUser-Agent: MailExample-FBL/2.1\r\nVersion: 1\r\nArrival-Date: Thu, 8 Mar 2026 14:00:00 EDT\r\n`);
  const source = original.toString('utf8');
  if (options.headersOnly) root.createChild('text/rfc822-headers').setContent(source.slice(0, source.indexOf('\r\n\r\n') + 2));
  else root.createChild('message/rfc822').setContent(source);
  return root.build();
}

/** A DSN (RFC 3464) as a relay sends it when it gives up on a message. */
function dsn(original: Buffer, action: string, status: string): Promise<Buffer> {
  const root = new MimeNode('multipart/report; report-type=delivery-status');
  root.setHeader({ From: 'MAILER-DAEMON@relay.example', To: 'shop@acme.test', Subject: 'Undelivered Mail Returned to Sender', 'MIME-Version': '1.0' });
  root.createChild('text/plain').setContent('I am sorry to have to inform you that your message could not be delivered.');
  root
    .createChild('message/delivery-status')
    .setContent(
      `Reporting-MTA: dns; relay.example\r\nArrival-Date: Thu, 26 Nov 2026 09:00:00 +0000\r\n\r\n` +
        `Final-Recipient: rfc822; ada@example.com\r\nOriginal-Recipient: rfc822;ada@example.com\r\nAction: ${action}\r\nStatus: ${status}\r\n` +
        `Remote-MTA: dns; mx.example.com\r\nDiagnostic-Code: smtp; 550 5.1.1 <ada@example.com>: Recipient address rejected: User unknown\r\n`,
    );
  const source = original.toString('utf8');
  root.createChild('text/rfc822-headers').setContent(source.slice(0, source.indexOf('\r\n\r\n') + 2));
  return root.build();
}

async function intakeUrl(): Promise<string> {
  const response = await adminGet(`${herald.url}/api/webhooks/email/feedback-url?workspace=default`);
  expect(response.status).toBe(200);
  expect(response.body.url).toMatch(/^https:\/\/herald\.test\/api\/webhooks\/email\/feedback\/[\w-]+\.[\w-]+$/);
  return `${herald.url}${new URL(response.body.url).pathname}`;
}

async function report(url: string, body: Buffer | string, contentType = 'message/rfc822') {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: response.status, body: await response.json() };
}

describe('email complaint and bounce reports', () => {
  it('records a complaint once, unsubscribes the person from email, and the next marketing email is suppressed', async () => {
    const original = await sendOne('ada', 'enr-fbl/reminder/0');
    const url = await intakeUrl();
    const raw = await arf(original);

    const first = await report(url, raw);
    expect(first).toEqual({
      status: 200,
      body: { kind: 'feedback', messageId: 'enr-fbl/reminder/0', recorded: 2, types: ['MessageComplained', 'Unsubscribed'] },
    });
    expect((await ofType('ada', 'MessageComplained')).map((e) => e.data)).toEqual([
      {
        messageId: 'enr-fbl/reminder/0',
        channel: 'email',
        source: 'arf',
        feedbackType: 'abuse',
        userAgent: 'MailExample-FBL/2.1',
        arrivalDate: 'Thu, 8 Mar 2026 14:00:00 EDT',
      },
    ]);
    expect((await ofType('ada', 'Unsubscribed')).map((e) => e.data)).toEqual([{ channel: 'email', source: 'complaint', messageId: 'enr-fbl/reminder/0' }]);

    // The same report again (a retry by the sender), and a headers-only report about the same message: nothing new.
    expect((await report(url, raw)).body).toMatchObject({ recorded: 0 });
    expect((await report(url, await arf(original, { headersOnly: true }))).body).toMatchObject({ recorded: 0, types: ['MessageComplained'] });
    expect(await ofType('ada', 'MessageComplained')).toHaveLength(1);
    expect(await ofType('ada', 'Unsubscribed')).toHaveLength(1);

    // The complaint stops marketing email before any SMTP call.
    await queue('ada', 'enr-fbl/reminder/1');
    const [suppressed] = await eventually(async () => {
      const found = await ofType('ada', 'MessageSuppressed');
      return found.length === 1 && found;
    });
    expect(suppressed.data).toMatchObject({ messageId: 'enr-fbl/reminder/1', reason: 'unsubscribed' });
    expect(smtp.received).toHaveLength(1);
  });

  it('records a DSN whose recipient failed as MessageBounced, once; a delayed one records nothing', async () => {
    const original = await sendOne('ada', 'enr-fbl/reminder/0');
    const url = await intakeUrl();

    const delayed = await report(url, await dsn(original, 'delayed', '4.4.7'));
    expect(delayed.status).toBe(200);
    expect(delayed.body).toMatchObject({ kind: 'delivery-status', recorded: 0, ignored: expect.stringContaining('delayed') });

    const raw = await dsn(original, 'failed', '5.1.1');
    expect((await report(url, raw)).body).toEqual({ kind: 'delivery-status', messageId: 'enr-fbl/reminder/0', recorded: 1, types: ['MessageBounced'] });
    expect((await report(url, raw)).body).toMatchObject({ recorded: 0 });
    expect((await ofType('ada', 'MessageBounced')).map((e) => e.data)).toEqual([
      {
        messageId: 'enr-fbl/reminder/0',
        channel: 'email',
        reason: 'dsn',
        code: 'smtp_5.1.1',
        status: '5.1.1',
        permanent: true,
        recipient: 'ada@example.com',
        detail: '550 5.1.1 <ada@example.com>: Recipient address rejected: User unknown',
        reportingMta: 'relay.example',
      },
    ]);
    expect(await ofType('ada', 'Unsubscribed')).toEqual([]);
  });

  it('refuses unverifiable intake URLs with 401 and unreadable or foreign reports with 4xx, storing nothing', async () => {
    const original = await sendOne('ada', 'enr-fbl/reminder/0');
    const url = await intakeUrl();
    const raw = await arf(original);
    const before = (await events('ada')).length;
    const expectError = async (response: { status: number; body: any }, status: number, message: RegExp) => {
      expect(response.status).toBe(status);
      expect(response.body.message).toMatch(message);
    };

    const token = url.slice(url.lastIndexOf('/') + 1);
    const altered = `${Buffer.from(JSON.stringify({ k: 'f', w: 'other', p: '' })).toString('base64url')}.${token.split('.')[1]}`;
    await expectError(await report(`${herald.url}/api/webhooks/email/feedback/${altered}`, raw), 401, /not valid/);
    await expectError(await report(`${herald.url}/api/webhooks/email/feedback/nonsense`, raw), 401, /not valid/);
    // An unsubscribe token is signed by the same key but is not an intake token.
    const unsubscribe = /\/u\/([\w-]+\.[\w-]+)/.exec(original.toString('utf8'))![1];
    await expectError(await report(`${herald.url}/api/webhooks/email/feedback/${unsubscribe}`, raw), 401, /not valid/);
    expect((await adminGet(`${herald.url}/api/webhooks/email/feedback-url`, 'wrong-token')).status).toBe(401);

    await expectError(await report(url, JSON.stringify({ complaint: true }), 'application/json'), 400, /message\/rfc822/);
    await expectError(await report(url, 'Subject: hello\r\n\r\nnot a report\r\n'), 400, /multipart\/report/);
    const text = original.toString('utf8');
    const withoutHeraldIds = text.replace(/^X-Herald-Message-Id:.*\r\n/im, '').replace(/^Message-ID:.*\r\n/im, '');
    await expectError(await report(url, await arf(withoutHeraldIds)), 400, /X-Herald-Message-Id/);
    const withoutUnsubscribe = text.replace(/^List-Unsubscribe:.*\r\n(?:[ \t].*\r\n)*/im, '');
    await expectError(await report(url, await arf(withoutUnsubscribe)), 400, /List-Unsubscribe/);
    const otherMessage = text.replace(/^X-Herald-Message-Id:.*$/im, 'X-Herald-Message-Id: enr-fbl/reminder/9');
    await expectError(await report(url, await arf(otherMessage)), 400, /is for message enr-fbl\/reminder\/0, not enr-fbl\/reminder\/9/);
    const noFeedbackPart = (await arf(original)).toString('utf8').replace('Content-Type: message/feedback-report', 'Content-Type: text/plain');
    await expectError(await report(url, noFeedbackPart), 400, /no message\/feedback-report part/);
    const badStatus = (await dsn(original, 'failed', '5.1.1')).toString('utf8').replace('Status: 5.1.1', 'Status: bounced');
    await expectError(await report(url, badStatus), 400, /no valid Status/);

    // A report about the message from another workspace's intake URL: 404, nothing stored.
    const otherUrl = herald.app.get(EmailFeedback).intakeUrl('other');
    await expectError(await report(`${herald.url}${new URL(otherUrl).pathname}`, raw), 404, /not sent by workspace other/);

    expect(await events('ada')).toHaveLength(before);
  });
});
