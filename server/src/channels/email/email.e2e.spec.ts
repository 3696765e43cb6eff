/**
 * The whole app over HTTP with email configured (SMTP_URL) against a real local SMTP server: a
 * queued message is rendered from the seeded example template and sent; its tracked link, open pixel
 * and List-Unsubscribe one-click work through the app; the next message is suppressed before any
 * SMTP call; forged tokens change nothing; a template that uses a variable that is not set fails the
 * message with the reason and sends nothing.
 */
import { userStream } from '@herald/projections';
import type { ParsedMail } from 'mailparser';
import { EVENT_STORE, type EventStore } from '../../event-store/event-store.port';
import { uuidv7 } from '../../shared/ids';
import { adminGet, adminSend, eventually, post, startTestApp, type TestApp } from '../../test-support/herald-test-app';
import { LinkSigner } from '../link-signer';
import { startSmtpServer, type TestSmtpServer } from './smtp-server.fixture';

const PUBLIC = 'https://herald.test';
let smtp: TestSmtpServer;
let herald: TestApp;

beforeEach(async () => {
  smtp = await startSmtpServer();
  herald = await startTestApp({
    env: { SMTP_URL: smtp.url, EMAIL_FROM: 'Acme <shop@acme.test>', PUBLIC_URL: PUBLIC, UNSUBSCRIBE_MAILTO: 'unsubscribe@acme.test', DISPATCH_RETRY_BASE_MS: '10' },
  });
});
afterEach(async () => {
  await herald.destroy();
  await smtp.close();
});

type Logged = { type: string; data: Record<string, any> };
const ofType = async (userId: string, type: string): Promise<Logged[]> =>
  ((await adminGet(`${herald.url}/api/users/${userId}/events`)).body.events as Logged[]).filter((e) => e.type === type);
/** A public link (PUBLIC_URL) on the test app. */
const local = (link: string) => `${herald.url}${new URL(link).pathname}`;
const header = (mail: ParsedMail, name: string) =>
  mail.headerLines.find((h) => h.key === name)?.line.replace(/^[^:]+:\s*/, '').replace(/\r?\n[ \t]+/g, ' ');

/** Queues an abandoned-cart email (or one of `template`) the way the scenario engine does. */
async function queue(userId: string, messageId: string, template = 'cart-plain', trigger: Record<string, unknown> = { cart_id: 'c42' }) {
  const now = new Date().toISOString();
  await herald.app.get<EventStore>(EVENT_STORE).append(userStream('default', userId), [
    {
      id: uuidv7(),
      type: 'MessageQueued',
      data: {
        messageId,
        enrollmentId: 'enr-e2e',
        scenarioId: 'abandoned-cart',
        stepId: 'reminder',
        channel: 'email',
        template,
        transactional: false,
        variables: { user: {}, event: trigger, trigger },
        checks: { subscribed: true, caps: [], quietHours: 'none', timezone: 'UTC' },
      },
      metadata: { workspace: 'default', occurredAt: now, receivedAt: now, schemaVersion: 1 },
    },
  ]);
}

describe('email channel through the app', () => {
  it('sends the rendered template with tracking and unsubscribe headers; one-click unsubscribe stops the next send', async () => {
    expect((await post(`${herald.url}/v1/identify`, { userId: 'ada', traits: { email: 'ada@example.com', first_name: 'Ada' } })).status).toBe(200);
    await queue('ada', 'enr-e2e/reminder/0');

    const [mail] = await smtp.waitFor(1);
    expect(mail.subject).toBe('You left something behind');
    expect(mail.messageId).toBe('<enr-e2e/reminder/0@herald.test>');
    expect(header(mail, 'x-herald-message-id')).toBe('enr-e2e/reminder/0');
    expect(header(mail, 'list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    expect(header(mail, 'list-unsubscribe')).toMatch(/^<https:\/\/herald\.test\/u\/[\w.-]+>, <mailto:unsubscribe@acme\.test\?subject=unsubscribe%20[\w.-]+>$/);
    const html = mail.html as string;
    expect(html).toContain('Hi Ada');
    expect(mail.text).toContain('Hi Ada');
    await eventually(async () => (await ofType('ada', 'MessageSent')).length === 1);
    expect((await ofType('ada', 'MessageSent'))[0].data).toMatchObject({ provider: 'smtp', providerMessageId: '<enr-e2e/reminder/0@herald.test>' });

    // The cart button goes through the click redirect to exactly its target.
    const click = [...html.matchAll(/href="(https:\/\/herald\.test\/t\/c\/[^"]+)"/g)].map((m) => m[1]);
    expect(click.length).toBeGreaterThan(0);
    const redirect = await fetch(local(click[0]), { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('https://shop.example.com/cart/c42');
    await eventually(async () => (await ofType('ada', 'MessageClicked')).length === 1);

    const pixel = /<img src="(https:\/\/herald\.test\/t\/o\/[^"]+\.gif)"/.exec(html)![1];
    const open = await fetch(local(pixel));
    expect(open.status).toBe(200);
    expect(open.headers.get('content-type')).toBe('image/gif');
    await eventually(async () => (await ofType('ada', 'MessageOpened')).length === 1);

    // The template's own unsubscribe and preferences links are not tracked.
    expect(html).toMatch(/href="https:\/\/herald\.test\/u\/[^"]+"/);
    expect(html).toMatch(/href="https:\/\/herald\.test\/preferences\/[^"]+"/);

    const oneClick = /<(https:[^>]+)>/.exec(header(mail, 'list-unsubscribe')!)![1];
    const response = await fetch(local(oneClick), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(response.status).toBe(200);
    expect((await ofType('ada', 'Unsubscribed')).map((e) => e.data)).toEqual([{ channel: 'email', source: 'one-click', messageId: 'enr-e2e/reminder/0' }]);

    await queue('ada', 'enr-e2e/reminder/1');
    const [suppressed] = await eventually(async () => {
      const found = await ofType('ada', 'MessageSuppressed');
      return found.length === 1 && found;
    });
    expect(suppressed.data).toMatchObject({ messageId: 'enr-e2e/reminder/1', reason: 'unsubscribed', stage: 'dispatch' });
    expect(smtp.received).toHaveLength(1);

    // The preference page shows email off.
    const preferences = /href="(https:\/\/herald\.test\/preferences\/[^"]+)"/.exec(html)![1];
    const page = await fetch(local(preferences));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<input type="checkbox" id="pref-email" name="subscribed" value="email">');
  });

  it('answers forged or altered links with 400 and appends nothing', async () => {
    await post(`${herald.url}/v1/identify`, { userId: 'eve', traits: { email: 'eve@example.com' } });
    await eventually(async () => (await ofType('eve', 'Identified')).length === 1);
    const links = herald.app.get(LinkSigner);
    const genuine = links.sign({ k: 'u', w: 'default', p: 'user:eve', m: 'm', ch: 'email' });
    const forged = new LinkSigner(Buffer.from('not the secret'), PUBLIC).sign({ k: 'u', w: 'default', p: 'user:eve', m: 'm', ch: 'email' });
    const altered = `${Buffer.from(JSON.stringify({ k: 'u', w: 'default', p: 'user:ada', m: 'm', ch: 'email' })).toString('base64url')}.${genuine.split('.')[1]}`;
    for (const token of [forged, altered]) {
      const response = await fetch(`${herald.url}/u/${token}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'List-Unsubscribe=One-Click',
      });
      expect(response.status).toBe(400);
      expect((await fetch(`${herald.url}/t/c/${token}`, { redirect: 'manual' })).status).toBe(400);
      expect((await fetch(`${herald.url}/preferences/${token}`)).status).toBe(400);
      expect((await fetch(`${herald.url}/t/o/${token}.gif`)).status).toBe(200);
    }
    expect((await adminGet(`${herald.url}/api/users/eve/events`)).body.events.map((e: Logged) => e.type)).toEqual(['Identified']);
    // The genuine link works.
    expect((await fetch(`${herald.url}/u/${genuine}`)).status).toBe(200);
  });

  it('redirects links whose target is not ASCII to its ASCII form, and records a click only for a redirect made', async () => {
    const body = `<mjml><mj-body><mj-section><mj-column><mj-text><a href="https://example.com/商品">item</a> <a href="https://пример.рф/">site</a></mj-text></mj-column></mj-section></mj-body></mjml>`;
    expect((await adminSend('PUT', `${herald.url}/api/templates/intl-links`, { format: 'mjml', subject: 'Links', body })).status).toBe(201);
    await post(`${herald.url}/v1/identify`, { userId: 'yui', traits: { email: 'yui@example.com' } });
    await eventually(async () => (await ofType('yui', 'Identified')).length === 1);
    await queue('yui', 'enr-e2e/intl/0', 'intl-links', {});
    const [mail] = await smtp.waitFor(1);
    const clicks = [...(mail.html as string).matchAll(/href="(https:\/\/herald\.test\/t\/c\/[^"]+)"/g)].map((m) => m[1]);
    expect(clicks).toHaveLength(2);
    const item = 'https://example.com/%E5%95%86%E5%93%81';
    const site = 'https://xn--e1afmkfd.xn--p1ai/';

    // A link checker's HEAD gets the redirect and records nothing.
    const head = await fetch(local(clicks[0]), { method: 'HEAD', redirect: 'manual' });
    expect([head.status, head.headers.get('location')]).toEqual([302, item]);
    const first = await fetch(local(clicks[0]), { redirect: 'manual' });
    expect([first.status, first.headers.get('location')]).toEqual([302, item]);
    const second = await fetch(local(clicks[1]), { redirect: 'manual' });
    expect([second.status, second.headers.get('location')]).toEqual([302, site]);
    // The click is appended before the 302 is answered: one MessageClicked per GET, none for the HEAD.
    expect((await ofType('yui', 'MessageClicked')).map((e) => e.data.url)).toEqual([item, site]);

    // A link signed before targets were encoded (the raw target in the token) redirects the same way.
    const legacy = herald.app.get(LinkSigner).sign({ k: 'c', w: 'default', p: 'user:yui', m: 'enr-e2e/intl/0', ch: 'email', u: 'https://example.com/商品' });
    const headLegacy = await fetch(`${herald.url}/t/c/${legacy}`, { method: 'HEAD', redirect: 'manual' });
    expect([headLegacy.status, headLegacy.headers.get('location')]).toEqual([302, item]);
    const legacyClick = await fetch(`${herald.url}/t/c/${legacy}`, { redirect: 'manual' });
    expect([legacyClick.status, legacyClick.headers.get('location')]).toEqual([302, item]);
    expect((await ofType('yui', 'MessageClicked')).map((e) => e.data.url)).toEqual([item, site, 'https://example.com/商品']);
  });

  it('a template with a variable that is not set fails the message with the reason, and nothing reaches the SMTP server', async () => {
    const body = `<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ user.first_name | default: 'there' }}, your code is {{ trigger.code }}. Ref. {{ message.id }}</mj-text></mj-column></mj-section></mj-body></mjml>`;
    expect((await adminSend('PUT', `${herald.url}/api/templates/strict-code`, { format: 'mjml', subject: 'Your code', body })).status).toBe(201);
    await post(`${herald.url}/v1/identify`, { userId: 'max', traits: { email: 'max@example.com', first_name: 'Max' } });
    await eventually(async () => (await ofType('max', 'Identified')).length === 1);

    await queue('max', 'enr-e2e/code/0', 'strict-code', {});
    const [failed] = await eventually(async () => {
      const found = await ofType('max', 'MessageFailed');
      return found.length === 1 && found;
    });
    expect(failed.data).toMatchObject({
      messageId: 'enr-e2e/code/0',
      reason: 'render_failed',
      renderError: 'missing_variable',
      detail: 'Template strict-code: body uses trigger.code, which is not set and has no default',
    });
    // Failed before the intent: no provider call was even started.
    expect(await ofType('max', 'MessageDispatching')).toEqual([]);

    // The same template with the variable set goes out, and it is the only mail the server got.
    await queue('max', 'enr-e2e/code/1', 'strict-code', { code: 'K7' });
    const [mail] = await smtp.waitFor(1);
    // `message.id` is the message's own id.
    expect(mail.text).toContain('Hi Max, your code is K7. Ref. enr-e2e/code/1');
    await eventually(async () => (await ofType('max', 'MessageSent')).length === 1);
    expect(smtp.received).toHaveLength(1);
  });
});
