/**
 * Webhook steps through the whole app against a real local HTTP server: one person's slow or failing
 * endpoint does not hold up another's call, retries are durable timers, and a call cut short by a
 * stop is made again after the restart with the same Idempotency-Key and recorded once.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync } from 'node:fs';
import { TestClock } from '../shared/clock';
import { WebhooksProjection } from './webhooks.projection';
import { adminGet, adminSend, eventually, post, startTestApp, tempDataDir, type TestApp } from '../test-support/herald-test-app';

type Logged = { type: string; data: Record<string, any> };
type Call = { path: string; key: string; response: ServerResponse };

let herald: TestApp;
let dataDir: string;
let clock: TestClock;
let receiver: Server;
let base: string;
/** Every request the receiver got, in order; `answer` decides what it gets (undefined: no answer yet). */
let calls: Call[];
let answer: (call: Call) => number | undefined;

const start = (env: Record<string, string> = {}) => startTestApp({ dataDir, clock, env: { WEBHOOK_RETRY_BASE_MS: '10000', ...env } });

beforeEach(async () => {
  calls = [];
  answer = () => 200;
  receiver = createServer((request: IncomingMessage, response) => {
    request.resume();
    request.on('end', () => {
      const call = { path: request.url ?? '', key: String(request.headers['idempotency-key']), response };
      calls.push(call);
      const status = answer(call);
      if (status !== undefined) response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  dataDir = tempDataDir();
  clock = new TestClock(new Date('2026-03-02T09:00:00Z'));
});
afterEach(async () => {
  await herald?.close();
  // Answers the calls left hanging, so the receiver can close.
  for (const call of calls) if (!call.response.headersSent) call.response.writeHead(503).end();
  await new Promise((resolve) => receiver.close(resolve));
  rmSync(dataDir, { recursive: true, force: true });
});

const history = async (userId: string): Promise<Logged[]> => (await adminGet(`${herald.url}/api/users/${userId}/events`)).body.events as Logged[];
const outcomes = async (userId: string) => (await history(userId)).filter((e) => /^Webhook(Succeeded|Failed|RetryScheduled)$/.test(e.type));

async function publishHook(id: string, path: string, retries = 0) {
  const published = await adminSend('POST', `${herald.url}/api/scenarios`, {
    id,
    name: id,
    trigger: { event: `${id} event` },
    steps: [{ id: 'hook', webhook: { url: `${base}${path}`, retries } }],
  });
  expect(published.status).toBe(201);
}

describe('webhook steps do not block each other', () => {
  it("a call that hangs does not hold up another person's call", async () => {
    herald = await start();
    answer = (call) => (call.path === '/slow' ? undefined : 200);
    await publishHook('slow', '/slow');
    await publishHook('quick', '/quick');
    await post(`${herald.url}/v1/track`, { userId: 'sam', event: 'slow event' });
    await eventually(async () => calls.some((call) => call.path === '/slow'));
    await post(`${herald.url}/v1/track`, { userId: 'kim', event: 'quick event' });

    // Kim's call is made and recorded while Sam's endpoint has still not answered.
    await eventually(async () => (await outcomes('kim')).length === 1);
    expect((await outcomes('kim'))[0]).toMatchObject({ type: 'WebhookSucceeded', data: { stepId: 'hook', status: 200, attempts: 1 } });
    expect(await outcomes('sam')).toEqual([]);
    expect(calls.map((call) => call.path)).toEqual(['/slow', '/quick']);
  });

  it('a failing endpoint retries on durable timers, across a restart, while other calls go on', async () => {
    herald = await start();
    let failures = 2;
    answer = (call) => (call.path === '/flaky' && failures-- > 0 ? 503 : 200);
    await publishHook('flaky', '/flaky', 3);
    await publishHook('quick', '/quick');
    await post(`${herald.url}/v1/track`, { userId: 'sam', event: 'flaky event' });
    await eventually(async () => (await outcomes('sam')).length === 1);
    expect((await outcomes('sam'))[0]).toMatchObject({ type: 'WebhookRetryScheduled', data: { attempt: 2, status: 503, delayMs: 10_000, dueAt: '2026-03-02T09:00:10.000Z' } });
    // The retry waits for its time without holding up anyone.
    await post(`${herald.url}/v1/track`, { userId: 'kim', event: 'quick event' });
    await eventually(async () => (await outcomes('kim')).length === 1);
    expect((await outcomes('kim'))[0].type).toBe('WebhookSucceeded');

    await herald.close();
    herald = await start();
    clock.advance(10_000);
    await eventually(async () => (await outcomes('sam')).length === 2);
    expect((await outcomes('sam'))[1]).toMatchObject({ type: 'WebhookRetryScheduled', data: { attempt: 3, status: 503, delayMs: 20_000 } });
    clock.advance(20_000);
    await eventually(async () => (await outcomes('sam')).length === 3);
    expect((await outcomes('sam'))[2]).toMatchObject({ type: 'WebhookSucceeded', data: { stepId: 'hook', status: 200, attempts: 3 } });
    const flaky = calls.filter((call) => call.path === '/flaky');
    expect(flaky).toHaveLength(3);
    expect(new Set(flaky.map((call) => call.key)).size).toBe(1);
  });

  it('a call cut short by a stop is made again after the restart, with the same key, and recorded once', async () => {
    herald = await start();
    answer = () => undefined;
    await publishHook('slow', '/slow');
    await post(`${herald.url}/v1/track`, { userId: 'sam', event: 'slow event' });
    await eventually(async () => calls.length === 1);
    await herald.close();

    answer = () => 200;
    herald = await start();
    await eventually(async () => (await outcomes('sam')).length === 1);
    expect((await outcomes('sam'))[0]).toMatchObject({ type: 'WebhookSucceeded', data: { status: 200, attempts: 1 } });
    expect(calls).toHaveLength(2);
    expect(calls[1].key).toBe(calls[0].key);
    // A further restart makes no call: the outcome is recorded.
    await herald.close();
    herald = await start();
    await post(`${herald.url}/v1/track`, { userId: 'kim', event: 'slow event' });
    await eventually(async () => (await outcomes('kim')).length === 1);
    expect(calls.map((call) => call.key).filter((key) => key === calls[0].key)).toHaveLength(2);
    expect(await outcomes('sam')).toHaveLength(1);
  });

  it('holds calls beyond WEBHOOK_CONCURRENCY until a slot is free', async () => {
    herald = await start({ WEBHOOK_CONCURRENCY: '1' });
    let slowAnsweredFirst: boolean | undefined;
    answer = (call) => {
      if (call.path === '/slow') return undefined;
      slowAnsweredFirst = calls[0].response.headersSent;
      return 200;
    };
    await publishHook('slow', '/slow');
    await publishHook('quick', '/quick');
    await post(`${herald.url}/v1/track`, { userId: 'sam', event: 'slow event' });
    await eventually(async () => calls.length === 1);
    await post(`${herald.url}/v1/track`, { userId: 'kim', event: 'quick event' });
    // Kim's call waits for the only slot, which Sam's holds until the endpoint answers.
    await eventually(async () => herald.app.get(WebhooksProjection).waitingForSlot === 1);
    expect(calls).toHaveLength(1);
    calls[0].response.writeHead(200).end();
    await eventually(async () => (await outcomes('kim')).length === 1 && (await outcomes('sam')).length === 1);
    expect(slowAnsweredFirst).toBe(true);
    expect(calls.map((call) => call.path)).toEqual(['/slow', '/quick']);
  });
});
