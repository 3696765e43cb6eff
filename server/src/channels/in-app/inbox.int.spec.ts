/**
 * The inbox over real HTTP (Nest on Fastify, a real SQLite log), with a real EventSource client. A
 * module of its own, so it runs before and apart from the application's wiring.
 */
import { APP_FILTER } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { userStream } from '@herald/projections';
import { EventSource } from 'eventsource';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVENT_STORE } from '../../event-store/event-store.port';
import { SqliteEventStore } from '../../event-store/sqlite/sqlite-event-store';
import { ErrorFilter } from '../../http/error.filter';
import { CLOCK, TestClock } from '../../shared/clock';
import type { Delivery } from '../channel.port';
import { LinkSigner } from '../link-signer';
import { issueAccessToken } from '../push/access-token';
import { InAppAdapter } from './in-app.adapter';
import { inAppControllers, inAppProviders } from './in-app.providers';
import { InboxFeed } from './inbox-feed';
import { InboxStreams } from './inbox-streams';
import { Dispatcher } from '../dispatcher.projection';
import type { MessageRenderer } from '../renderer.port';
import { openStateDb } from '../../state/state-db';
import { uuidv7 } from '../../shared/ids';

const signer = new LinkSigner(Buffer.from('inbox-test-secret'), 'http://herald.test');

let dir: string;
let store: SqliteEventStore;
let clock: TestClock;
let app: NestFastifyApplication;
let url: string;
let adapter: InAppAdapter;
let appClosed = false;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'herald-inbox-'));
  store = new SqliteEventStore({ path: join(dir, 'events.sqlite') });
  clock = new TestClock(new Date());
  const moduleRef = await Test.createTestingModule({
    controllers: inAppControllers,
    providers: [
      { provide: EVENT_STORE, useValue: store },
      { provide: CLOCK, useValue: clock },
      { provide: LinkSigner, useValue: signer },
      ...inAppProviders({ heartbeatMs: 100 }),
      { provide: APP_FILTER, useClass: ErrorFilter },
    ],
  }).compile();
  app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  await app.listen(0, '127.0.0.1');
  url = await app.getUrl();
  url = url.replace('[::1]', '127.0.0.1');
  adapter = app.get(InAppAdapter);
  appClosed = false;
});

afterEach(async () => {
  // undici (fetch, EventSource) can leave a connection open that never carried a request after an
  // abort; the server would wait for undici's 4 s keep-alive before closing. Shutdown with streams
  // open is tested on its own below.
  if (!appClosed) {
    app.getHttpServer().closeAllConnections();
    await app.close();
  }
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const tokenFor = (person: string, ttlSeconds = 3600, workspace = 'default') => issueAccessToken(signer, { workspace, person, now: clock.now(), ttlSeconds }).token;

function delivery(person: string, messageId: string, content: Partial<Delivery['content']> = {}, workspace = 'default'): Delivery {
  return {
    messageId,
    workspace,
    person,
    channel: 'in_app',
    to: 'inbox',
    content: { subject: `Hello ${messageId}`, text: `Body of ${messageId}`, ...content },
    links: {},
  };
}

async function api(method: string, path: string, token?: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${url}${path}`, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

/** Resolves when `check` holds, polling every 10 ms. */
async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('Timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface Received {
  snapshots: Array<{ unread: number }>;
  messages: Array<{ id: string; data: Record<string, unknown> }>;
  errors: Array<{ code?: number }>;
  opened: number;
}

function listen(source: EventSource): Received {
  const received: Received = { snapshots: [], messages: [], errors: [], opened: 0 };
  source.addEventListener('open', () => received.opened++);
  source.addEventListener('snapshot', (event) => received.snapshots.push(JSON.parse(event.data)));
  source.addEventListener('message', (event) => received.messages.push({ id: event.lastEventId, data: JSON.parse(event.data) }));
  source.addEventListener('error', (event) => received.errors.push({ code: (event as unknown as { code?: number }).code }));
  return received;
}

/** Reads a raw SSE response until `done` says the text so far is enough. */
async function readSse(path: string, done: (text: string) => boolean, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const response = await fetch(`${url}${path}`, { headers, signal: controller.signal });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let ended = false;
  const deadline = setTimeout(() => controller.abort(), 5000);
  try {
    while (!done(text)) {
      const chunk = await reader.read();
      if (chunk.done) {
        ended = true;
        break;
      }
      text += decoder.decode(chunk.value, { stream: true });
    }
  } finally {
    clearTimeout(deadline);
    if (!ended) controller.abort();
  }
  return { status: response.status, headers: response.headers, text, ended };
}

describe('in-app adapter', () => {
  it('records the message in the person\'s inbox once, however often it is sent', async () => {
    expect(adapter.address({ traits: {}, pushSubscriptions: [] })).toBe('inbox');
    expect(adapter.safeToRetry).toBe(true);
    const first = await adapter.send(delivery('user:ada', 'welcome/e1/hello/0', { url: 'https://app.test/welcome' }));
    const again = await adapter.send(delivery('user:ada', 'welcome/e1/hello/0', { url: 'https://app.test/welcome' }));
    expect(first).toEqual({ providerMessageId: 'inapp:welcome/e1/hello/0' });
    expect(again).toEqual(first);
    const events = await store.readStream(userStream('default', 'ada'));
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['InAppMessageDelivered', { messageId: 'welcome/e1/hello/0', title: 'Hello welcome/e1/hello/0', body: 'Body of welcome/e1/hello/0', url: 'https://app.test/welcome' }],
    ]);
  });
});

describe('through the dispatcher', () => {
  const renderer: MessageRenderer = {
    render: async (request) => ({ subject: `Hi ${String(request.variables.user.first_name)}`, text: `Plan ${String(request.variables.event.plan)}`, url: 'https://app.test/plan' }),
  };
  async function queue(userId: string, messageId: string) {
    const now = clock.now().toISOString();
    await store.append(userStream('default', userId), [
      {
        id: uuidv7(),
        type: 'MessageQueued',
        data: {
          messageId,
          enrollmentId: 'plan/e1',
          scenarioId: 'plan',
          stepId: 'note',
          channel: 'in_app',
          template: 'plan-ready',
          transactional: false,
          variables: { user: { first_name: 'Ada' }, event: { plan: 'pro' }, trigger: { plan: 'pro' } },
          checks: { subscribed: true, caps: [], quietHours: 'none', timezone: 'UTC' },
        },
        metadata: { workspace: 'default', occurredAt: now, receivedAt: now, schemaVersion: 1 },
      },
    ]);
    return (await store.readStream(userStream('default', userId))).at(-1)!;
  }

  it('records the intent, the delivery and MessageSent, and the open stream shows it', async () => {
    const db = openStateDb(':memory:');
    const dispatcher = new Dispatcher(db, store, { in_app: adapter }, renderer, signer, clock);
    const source = new EventSource(`${url}/v1/inbox/stream?token=${encodeURIComponent(tokenFor('user:ada'))}`);
    try {
      const received = listen(source);
      await until(() => received.snapshots.length === 1);
      await dispatcher.handle(await queue('ada', 'plan/e1/note/0'));
      await dispatcher.drain();
      await until(() => received.messages.length === 1);
      expect(received.messages[0].data).toMatchObject({ messageId: 'plan/e1/note/0', title: 'Hi Ada', body: 'Plan pro', url: 'https://app.test/plan' });
      const events = await store.readStream(userStream('default', 'ada'));
      expect(events.map((e) => e.type)).toEqual(['MessageQueued', 'MessageDispatching', 'InAppMessageDelivered', 'MessageSent']);
      expect(events[1].data).toMatchObject({ provider: 'in-app', to: 'inbox' });
      expect(events[3].data).toMatchObject({ provider: 'in-app', providerMessageId: 'inapp:plan/e1/note/0' });
    } finally {
      source.close();
      db.close();
    }
  });

  it('sends again after a crash with an unknown outcome, and the person still gets it once', async () => {
    const db = openStateDb(':memory:');
    // The process "dies" after the delivery was recorded and before MessageSent: the call never returns.
    const dying = { channel: adapter.channel, provider: adapter.provider, safeToRetry: adapter.safeToRetry, address: () => 'inbox', send: async (d: Delivery) => {
      await adapter.send(d);
      return new Promise<never>(() => undefined);
    } };
    const source = new EventSource(`${url}/v1/inbox/stream?token=${encodeURIComponent(tokenFor('user:ada'))}`);
    try {
      const received = listen(source);
      await until(() => received.snapshots.length === 1);
      const dead = new Dispatcher(db, store, { in_app: dying }, renderer, signer, clock);
      await dead.handle(await queue('ada', 'plan/e1/note/0'));
      // The runner commits the batch with the dispatcher's state (the in-flight row) before the "crash".
      db.transaction(() => dead.flush())();
      await until(() => received.messages.length === 1);
      const restarted = new Dispatcher(db, store, { in_app: adapter }, renderer, signer, clock);
      await restarted.recover();
      await restarted.drain();
      const types = (await store.readStream(userStream('default', 'ada'))).map((e) => e.type);
      expect(types).toEqual(['MessageQueued', 'MessageDispatching', 'InAppMessageDelivered', 'MessageDispatching', 'MessageSent']);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(received.messages).toHaveLength(1);
      expect((await api('GET', '/v1/inbox', tokenFor('user:ada'))).body.unread).toBe(1);
    } finally {
      source.close();
      db.close();
    }
  });

  it('writes the in-flight row with the batch that started the send; a batch that did not commit leaves it to the next one', async () => {
    const db = openStateDb(':memory:');
    let answer: () => void = () => undefined;
    const held = { channel: adapter.channel, provider: adapter.provider, safeToRetry: adapter.safeToRetry, address: () => 'inbox', send: async (d: Delivery) => {
      await new Promise<void>((resolve) => (answer = resolve));
      return adapter.send(d);
    } };
    const rows = () => db.prepare('SELECT message_id, attempt FROM dispatch_inflight').all();
    try {
      const dispatcher = new Dispatcher(db, store, { in_app: held }, renderer, signer, clock);
      await dispatcher.handle(await queue('ada', 'plan/e1/note/0'));
      expect(rows()).toEqual([]);
      // The runner's commit fails after the dispatcher's state was written: rolled back, and discarded.
      expect(() => db.transaction(() => {
        dispatcher.flush();
        throw new Error('SQLITE_BUSY');
      })()).toThrow('SQLITE_BUSY');
      dispatcher.discard();
      expect(rows()).toEqual([]);
      // The batch handled again starts nothing new (the send is in flight); its commit writes the row.
      await dispatcher.handle((await store.readStream(userStream('default', 'ada')))[0]);
      db.transaction(() => dispatcher.flush())();
      expect(rows()).toEqual([{ message_id: 'plan/e1/note/0', attempt: 1 }]);
      answer();
      await dispatcher.drain();
      db.transaction(() => dispatcher.flush())();
      expect(rows()).toEqual([]);
      expect((await store.readStream(userStream('default', 'ada'))).map((e) => e.type)).toEqual(['MessageQueued', 'MessageDispatching', 'InAppMessageDelivered', 'MessageSent']);
    } finally {
      db.close();
    }
  });
});

describe('inbox API', () => {
  it('lists, marks read and archives, each recorded once; 404 for messages outside the inbox', async () => {
    const token = tokenFor('user:ada');
    await adapter.send(delivery('user:ada', 'm/1'));
    clock.advance(60_000);
    await adapter.send(delivery('user:ada', 'm/2', { url: 'https://app.test/2' }));
    await adapter.send(delivery('user:bob', 'm/3'));

    const listed = await api('GET', '/v1/inbox', token);
    expect(listed.status).toBe(200);
    expect(listed.headers.get('access-control-allow-origin')).toBe('*');
    expect(listed.body).toEqual({
      messages: [
        { messageId: 'm/2', title: 'Hello m/2', body: 'Body of m/2', url: 'https://app.test/2', deliveredAt: expect.any(String), read: false, archived: false },
        { messageId: 'm/1', title: 'Hello m/1', body: 'Body of m/1', deliveredAt: expect.any(String), read: false, archived: false },
      ],
      unread: 2,
    });
    expect(Date.parse(listed.body.messages[0].deliveredAt) - Date.parse(listed.body.messages[1].deliveredAt)).toBe(60_000);

    // Message ids contain slashes: they travel percent-encoded.
    expect(await api('POST', `/v1/inbox/${encodeURIComponent('m/1')}/read`, token)).toMatchObject({
      status: 200,
      body: { messageId: 'm/1', read: true, changed: true },
    });
    expect((await api('POST', `/v1/inbox/${encodeURIComponent('m/1')}/read`, token)).body).toEqual({ messageId: 'm/1', read: true, changed: false });
    expect((await api('GET', '/v1/inbox', token)).body.unread).toBe(1);

    expect((await api('POST', `/v1/inbox/${encodeURIComponent('m/2')}/archive`, token)).body).toEqual({ messageId: 'm/2', archived: true, changed: true });
    const after = (await api('GET', '/v1/inbox', token)).body;
    expect(after).toEqual({ messages: [expect.objectContaining({ messageId: 'm/1', read: true })], unread: 0 });
    const withArchived = (await api('GET', '/v1/inbox?archived=true', token)).body;
    expect(withArchived.messages.map((m: { messageId: string; archived: boolean }) => [m.messageId, m.archived])).toEqual([
      ['m/2', true],
      ['m/1', false],
    ]);

    // Bob's message is not in Ada's inbox, and an unknown one is nowhere.
    const bobs = await api('POST', `/v1/inbox/${encodeURIComponent('m/3')}/read`, token);
    expect(bobs).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(bobs.headers.get('access-control-allow-origin')).toBe('*');
    expect((await api('POST', '/v1/inbox/nope/archive', token)).status).toBe(404);

    const ada = await store.readStream(userStream('default', 'ada'));
    expect(ada.map((e) => e.type)).toEqual(['InAppMessageDelivered', 'InAppMessageDelivered', 'InAppMessageRead', 'MessageOpened', 'InAppMessageArchived']);
    expect(ada[3].data).toEqual({ messageId: 'm/1', channel: 'in_app', provider: 'in-app', providerMessageId: 'inapp:m/1', source: 'in_app_read' });
    expect((await store.readStream(userStream('default', 'bob'))).map((e) => e.type)).toEqual(['InAppMessageDelivered']);
  });

  it('records a read once when two tabs mark it at the same time', async () => {
    const token = tokenFor('user:ada');
    await adapter.send(delivery('user:ada', 'race'));
    const results = await Promise.all(Array.from({ length: 8 }, () => api('POST', '/v1/inbox/race/read', token)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    const types = (await store.readStream(userStream('default', 'ada'))).map((e) => e.type);
    expect(types).toEqual(['InAppMessageDelivered', 'InAppMessageRead', 'MessageOpened']);
  });

  it('keeps workspaces apart: the same user id in another workspace is another inbox', async () => {
    await adapter.send(delivery('user:ada', 'w1', {}, 'default'));
    await adapter.send(delivery('user:ada', 'w2', {}, 'shop'));
    const inDefault = (await api('GET', '/v1/inbox', tokenFor('user:ada', 3600, 'default'))).body;
    const inShop = (await api('GET', '/v1/inbox', tokenFor('user:ada', 3600, 'shop'))).body;
    expect(inDefault.messages.map((m: { messageId: string }) => m.messageId)).toEqual(['w1']);
    expect(inShop.messages.map((m: { messageId: string }) => m.messageId)).toEqual(['w2']);
  });

  it('answers 401 JSON (readable cross-origin) without a valid token, and 400 for bad parameters', async () => {
    const missing = await api('GET', '/v1/inbox');
    expect(missing).toMatchObject({ status: 401, body: { error: 'unauthorized', message: expect.stringContaining('token') } });
    expect(missing.headers.get('access-control-allow-origin')).toBe('*');
    expect((await api('GET', '/v1/inbox', 'garbage')).status).toBe(401);
    expect((await api('GET', '/v1/inbox', signer.sign({ k: 'p', w: 'default', p: 'user:ada' }))).status).toBe(401);
    const expired = tokenFor('user:ada', 60);
    clock.advance(61_000);
    expect((await api('GET', '/v1/inbox', expired)).body).toEqual({ error: 'unauthorized', message: 'The inbox token is not valid or has expired' });
    expect((await api('POST', '/v1/inbox/x/read', 'garbage')).status).toBe(401);
    expect((await api('GET', '/v1/inbox/stream?token=garbage')).status).toBe(401);
    expect((await api('GET', '/v1/inbox?limit=0', tokenFor('user:ada'))).status).toBe(400);
    expect((await api('GET', '/v1/inbox?archived=maybe', tokenFor('user:ada'))).status).toBe(400);
    // The query token works for the JSON routes too.
    expect((await api('GET', `/v1/inbox?token=${encodeURIComponent(tokenFor('user:ada'))}`)).status).toBe(200);
  });

  it('answers CORS preflights for every inbox route', async () => {
    for (const path of ['/v1/inbox', '/v1/inbox/stream', '/v1/inbox/a%2Fb/read', '/v1/inbox/a/archive']) {
      const response = await fetch(`${url}${path}`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.test', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
      });
      expect([path, response.status]).toEqual([path, 204]);
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
      expect(response.headers.get('access-control-allow-headers')).toContain('authorization');
      expect(response.headers.get('access-control-allow-methods')).toContain('POST');
    }
  });
});

describe('live stream', () => {
  it('sends the unread count, then each new message for this person only, to a real EventSource', async () => {
    await adapter.send(delivery('user:ab', 'old/1'));
    const source = new EventSource(`${url}/v1/inbox/stream?token=${encodeURIComponent(tokenFor('user:ab'))}`);
    try {
      const received = listen(source);
      await until(() => received.snapshots.length === 1);
      expect(received.snapshots).toEqual([{ unread: 1 }]);
      // 'user:abc' shares the prefix of 'user:ab' stream name; their messages stay theirs.
      await adapter.send(delivery('user:abc', 'not-yours'));
      await adapter.send(delivery('user:ab', 'new/1', { url: 'https://app.test/new' }));
      await adapter.send(delivery('user:ab', 'new/2'));
      await until(() => received.messages.length === 2);
      expect(received.messages.map((m) => m.data)).toEqual([
        { messageId: 'new/1', title: 'Hello new/1', body: 'Body of new/1', url: 'https://app.test/new', deliveredAt: expect.any(String), read: false, archived: false },
        { messageId: 'new/2', title: 'Hello new/2', body: 'Body of new/2', deliveredAt: expect.any(String), read: false, archived: false },
      ]);
      // Event ids are log positions, so a reconnect resumes where it left off.
      expect(Number(received.messages[1].id)).toBeGreaterThan(Number(received.messages[0].id));
      // A resend of the same message (a dispatcher retry) records nothing, so nothing new is streamed.
      await adapter.send(delivery('user:ab', 'new/2'));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(received.messages).toHaveLength(2);
      expect(received.errors).toEqual([]);
    } finally {
      source.close();
    }
  });

  it('shares one log subscription per node and releases it when the clients disconnect', async () => {
    const feed = app.get(InboxFeed);
    const streams = app.get(InboxStreams);
    expect(feed.following).toBe(false);
    const sources = ['user:a', 'user:b', 'user:a'].map((person) => new EventSource(`${url}/v1/inbox/stream?token=${encodeURIComponent(tokenFor(person))}`));
    const received = sources.map(listen);
    try {
      await until(() => received.every((r) => r.snapshots.length === 1));
      expect(feed.listenerCount).toBe(3);
      expect(feed.following).toBe(true);
      await adapter.send(delivery('user:a', 'for-a'));
      await until(() => received[0].messages.length === 1 && received[2].messages.length === 1);
      expect(received[1].messages).toEqual([]);

      sources[0].close();
      await until(() => feed.listenerCount === 2 && streams.size === 2);
      expect(feed.following).toBe(true);
      sources[1].close();
      sources[2].close();
      await until(() => feed.listenerCount === 0 && streams.size === 0);
      expect(feed.following).toBe(false);
    } finally {
      for (const source of sources) source.close();
    }
    // A new client starts following again.
    const again = new EventSource(`${url}/v1/inbox/stream?token=${encodeURIComponent(tokenFor('user:a'))}`);
    try {
      const next = listen(again);
      await until(() => next.snapshots.length === 1);
      expect(next.snapshots).toEqual([{ unread: 1 }]);
      expect(feed.following).toBe(true);
      await adapter.send(delivery('user:a', 'after-restart'));
      await until(() => next.messages.length === 1);
    } finally {
      again.close();
    }
  });

  it('does not retry after a 401: the EventSource closes', async () => {
    const source = new EventSource(`${url}/v1/inbox/stream?token=bad`);
    const received = listen(source);
    await until(() => received.errors.length > 0);
    expect(received.errors[0].code).toBe(401);
    expect(source.readyState).toBe(EventSource.CLOSED);
    expect(received.opened).toBe(0);
    expect(app.get(InboxFeed).listenerCount).toBe(0);
  });

  it('pings, and replays what came after Last-Event-ID on a reconnect', async () => {
    const token = encodeURIComponent(tokenFor('user:ada'));
    await adapter.send(delivery('user:ada', 'r/1'));
    await adapter.send(delivery('user:ada', 'r/2'));
    await adapter.send(delivery('user:ada', 'r/3'));
    const first = await readSse(`/v1/inbox/stream?token=${token}`, (text) => text.includes(': ping'));
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(first.headers.get('access-control-allow-origin')).toBe('*');
    expect(first.text).toContain('event: snapshot\ndata: {"unread":3}\n\n');
    expect(first.text).not.toContain('event: message');

    const [, second] = await store.readStream(userStream('default', 'ada'));
    const resumed = await readSse(`/v1/inbox/stream?token=${token}`, (text) => text.includes(': ping'), { 'last-event-id': String(second.position) });
    const replayed = [...resumed.text.matchAll(/id: (\d+)\nevent: message\ndata: (.*)\n/g)].map((m) => JSON.parse(m[2]).messageId);
    expect(replayed).toEqual(['r/3']);
  });

  it('ends the stream when the token expires', async () => {
    const token = encodeURIComponent(tokenFor('user:ada', 1));
    const started = Date.now();
    const result = await readSse(`/v1/inbox/stream?token=${token}`, () => false);
    expect(result.ended).toBe(true);
    expect(result.text).toContain('event: snapshot');
    expect(Date.now() - started).toBeLessThan(3000);
    await until(() => app.get(InboxFeed).listenerCount === 0);
  });

  it('lets the server shut down with streams open', async () => {
    const source = new EventSource(`${url}/v1/inbox/stream?token=${encodeURIComponent(tokenFor('user:ada'))}`);
    const received = listen(source);
    await until(() => received.snapshots.length === 1);
    const closing = Date.now();
    await app.close();
    appClosed = true;
    expect(Date.now() - closing).toBeLessThan(2000);
    expect(app.get(InboxStreams).size).toBe(0);
    expect(app.get(InboxFeed).following).toBe(false);
    source.close();
  });
});
