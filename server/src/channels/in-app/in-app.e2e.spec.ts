/** The in-app channel through the whole app: scenario -> dispatcher -> inbox, live to a real EventSource. */
import { EventSource } from 'eventsource';
import { adminGet, adminSend, eventually, post, startTestApp, type TestApp } from '../../test-support/herald-test-app';

let herald: TestApp;
beforeEach(async () => {
  herald = await startTestApp({ env: { DISPATCH_RETRY_BASE_MS: '10' } });
});
afterEach(async () => {
  // undici may leave an unused connection behind an aborted stream; do not wait for its keep-alive.
  herald.app.getHttpServer().closeAllConnections();
  await herald.destroy();
});

type Logged = { type: string; data: Record<string, any> };
const ofType = async (userId: string, type: string): Promise<Logged[]> =>
  ((await adminGet(`${herald.url}/api/users/${userId}/events`)).body.events as Logged[]).filter((e) => e.type === type);

async function inbox(method: string, path: string, token: string) {
  const response = await fetch(`${herald.url}/v1/inbox${path}`, { method, headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, body: (await response.json()) as any };
}

describe('in-app messages end to end', () => {
  it('a scenario step lands in the inbox and on the live stream; read and archive are recorded; bad tokens get 401', async () => {
    expect(
      (
        await adminSend('PUT', `${herald.url}/api/templates/plan-ready`, {
          format: 'liquid',
          channel: 'in_app',
          subject: 'Welcome, {{ user.first_name }}',
          body: 'Your {{ event.plan }} plan is ready.',
          url: 'https://app.example.com/plans/{{ event.plan }}',
        })
      ).status,
    ).toBeLessThan(300);
    const scenario = {
      id: 'plan-ready',
      name: 'Plan ready (in-app)',
      trigger: { event: 'Plan Chosen' },
      entry: { reenter: 'always' },
      steps: [{ id: 'note', send: { channel: 'in_app', template: 'plan-ready' } }],
    };
    expect((await adminSend('POST', `${herald.url}/api/scenarios`, scenario)).status).toBe(201);
    expect((await post(`${herald.url}/v1/identify`, { userId: 'ada', traits: { first_name: 'Ada' } })).status).toBe(200);
    const issued = await adminSend('POST', `${herald.url}/api/users/ada/access-token`, { ttlSeconds: 3600 });
    expect(issued.status).toBe(201);
    const token: string = issued.body.token;

    const source = new EventSource(`${herald.url}/v1/inbox/stream?token=${encodeURIComponent(token)}`);
    try {
      const snapshots: unknown[] = [];
      const live: Array<Record<string, unknown>> = [];
      source.addEventListener('snapshot', (event) => snapshots.push(JSON.parse(event.data)));
      source.addEventListener('message', (event) => live.push(JSON.parse(event.data)));
      await eventually(async () => snapshots.length === 1);
      expect(snapshots).toEqual([{ unread: 0 }]);

      expect((await post(`${herald.url}/v1/track`, { userId: 'ada', event: 'Plan Chosen', properties: { plan: 'pro' } })).status).toBe(200);
      await eventually(async () => live.length === 1);
      const [message] = live;
      expect(message).toEqual({
        messageId: expect.any(String),
        title: 'Welcome, Ada',
        body: 'Your pro plan is ready.',
        url: 'https://app.example.com/plans/pro',
        deliveredAt: expect.any(String),
        read: false,
        archived: false,
      });
      const messageId = message.messageId as string;
      const [sent] = await eventually(async () => {
        const found = await ofType('ada', 'MessageSent');
        return found.length === 1 && found;
      });
      expect(sent.data).toMatchObject({ messageId, channel: 'in_app', provider: 'in-app', providerMessageId: `inapp:${messageId}` });

      const listed = await inbox('GET', '', token);
      expect(listed).toEqual({ status: 200, body: { messages: [message], unread: 1 } });
      expect((await inbox('POST', `/${encodeURIComponent(messageId)}/read`, token)).body).toEqual({ messageId, read: true, changed: true });
      expect((await inbox('GET', '', token)).body).toMatchObject({ messages: [{ messageId, read: true }], unread: 0 });
      expect((await ofType('ada', 'MessageOpened')).map((e) => e.data)).toEqual([
        { messageId, channel: 'in_app', provider: 'in-app', providerMessageId: `inapp:${messageId}`, source: 'in_app_read' },
      ]);
      expect((await inbox('POST', `/${encodeURIComponent(messageId)}/archive`, token)).body).toEqual({ messageId, archived: true, changed: true });
      expect((await inbox('GET', '', token)).body).toEqual({ messages: [], unread: 0 });
      expect((await inbox('GET', '?archived=true', token)).body.messages).toEqual([{ ...message, read: true, archived: true }]);
      expect((await inbox('POST', '/nope/read', token)).status).toBe(404);
    } finally {
      source.close();
    }

    const refused = await inbox('GET', '', `${token}x`);
    expect(refused).toEqual({ status: 401, body: { error: 'unauthorized', message: expect.any(String) } });
    const badStream = new EventSource(`${herald.url}/v1/inbox/stream?token=nope`);
    try {
      const code = await new Promise<number | undefined>((resolve) => badStream.addEventListener('error', (event) => resolve((event as { code?: number }).code)));
      expect(code).toBe(401);
      expect(badStream.readyState).toBe(EventSource.CLOSED);
    } finally {
      badStream.close();
    }
  });
});
