/**
 * An ingestion node (HERALD_ROLE=ingest) as a process of its own, beside a main Herald that shares
 * its embedded log (SQLITE_SHARED=1): what the node accepts is the main process's history, which its
 * projections, segments and audit API follow; the node itself serves nothing but the tracking API.
 */
import { userStream } from '@herald/projections';
import { adminGet, adminSend, eventually, post, startTestApp, type TestApp, tempDataDir } from './test-support/herald-test-app';
import { freePort, runMainUntilItEnds, type StartedMain, startMain } from './test-support/main-process';
import { rmSync } from 'node:fs';

async function startNode(dataDir: string): Promise<{ node: StartedMain; url: string }> {
  const port = await freePort();
  const node = await startMain({ HERALD_ROLE: 'ingest', PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  return { node, url: `http://127.0.0.1:${port}` };
}

describe('an ingestion node beside the main process', () => {
  let main: TestApp;
  let node: StartedMain;
  let nodeUrl: string;
  beforeAll(async () => {
    main = await startTestApp({ env: { SQLITE_SHARED: '1' } });
    ({ node, url: nodeUrl } = await startNode(main.dataDir));
  });
  afterAll(async () => {
    await node?.stop();
    await main?.destroy();
  });

  it("appends to the main process's log: identity links, profiles, segments and the audit see one person", async () => {
    const segment = { id: 'pro-users', name: 'Pro users', where: { all: [{ trait: 'plan', op: 'eq', value: 'pro' }] } };
    expect((await adminSend('POST', `${main.url}/api/segments`, segment)).status).toBe(201);

    expect((await post(`${nodeUrl}/v1/track`, { anonymousId: 'guest-1', event: 'Product Viewed', messageId: 'm-1' })).status).toBe(200);
    expect((await post(`${nodeUrl}/v1/identify`, { anonymousId: 'guest-1', userId: 'ada', traits: { plan: 'pro' }, messageId: 'm-2' })).status).toBe(200);
    // Linked by the node's own identity projection: this lands on ada's stream, not the guest's.
    expect((await post(`${nodeUrl}/v1/track`, { anonymousId: 'guest-1', event: 'Checkout Started', messageId: 'm-3' })).status).toBe(200);

    const user = await eventually(async () => {
      const found = await adminGet(`${main.url}/api/users/ada`);
      return found.status === 200 && found.body.segments.includes('pro-users') && found.body;
    });
    expect(user.traits).toEqual({ plan: 'pro' });
    const history = (await adminGet(`${main.url}/api/users/ada/events`)).body.events as Array<{ type: string; stream: string; data: any }>;
    expect(history.map((event) => event.type)).toEqual(expect.arrayContaining(['Tracked', 'Identified', 'IdentityLinked', 'SegmentEntered']));
    const checkout = history.find((event) => event.type === 'Tracked' && event.data.event === 'Checkout Started');
    expect(checkout?.stream).toBe(userStream('default', 'ada'));
  });

  it('stores a message sent to both the node and the main process once', async () => {
    const call = { userId: 'grace', event: 'Order Completed', messageId: 'm-twice' };
    expect((await post(`${nodeUrl}/v1/track`, call)).status).toBe(200);
    expect((await post(`${main.url}/v1/track`, call)).status).toBe(200);
    const events = await eventually(async () => {
      const found = await adminGet(`${main.url}/api/users/grace/events`);
      return found.status === 200 && (found.body.events as Array<{ type: string }>);
    });
    expect(events.filter((event) => event.type === 'Tracked')).toHaveLength(1);
  });

  it('serves the tracking API, /health and /metrics, and neither the admin API nor the dashboard', async () => {
    expect((await fetch(`${nodeUrl}/health`)).status).toBe(200);
    expect((await fetch(`${nodeUrl}/metrics`)).status).toBe(200);
    expect((await adminGet(`${nodeUrl}/api/users/ada`)).status).toBe(404);
    expect((await fetch(`${nodeUrl}/`)).status).toBe(404);
    const refused = await post(`${nodeUrl}/v1/track`, { userId: 'ada', event: 'X' }, { authorization: `Basic ${Buffer.from('wk_unknown:').toString('base64')}` });
    expect(refused.status).toBe(401);
  });
});

describe('an ingestion node on a log its main process does not share', () => {
  it('refuses to start, and says how to share the log', async () => {
    const main = await startTestApp();
    try {
      const port = await freePort();
      const { code, output } = await runMainUntilItEnds({ HERALD_ROLE: 'ingest', PORT: String(port), HOST: '127.0.0.1', DATA_DIR: main.dataDir });
      expect(code).not.toBe(0);
      expect(output).toContain('SQLITE_SHARED=1');
    } finally {
      await main.destroy();
    }
  });

  it('stops accepting events once the main process restarts without sharing the log', async () => {
    const dataDir = tempDataDir();
    let main = await startTestApp({ dataDir, env: { SQLITE_SHARED: '1' } });
    const { node, url } = await startNode(dataDir);
    try {
      expect((await post(`${url}/v1/track`, { userId: 'ada', event: 'Before', messageId: 'm-before' })).status).toBe(200);
      await main.close();
      main = await startTestApp({ dataDir });
      const refused = await eventually(async () => {
        const response = await post(`${url}/v1/track`, { userId: 'ada', event: 'After', messageId: 'm-after' });
        return response.status === 503 && response;
      });
      expect(refused.body.error).toBe('store_unavailable');
      expect((await fetch(`${url}/health`)).status).toBe(503);
      const history = (await adminGet(`${main.url}/api/users/ada/events`)).body.events as Array<{ data: { event?: string } }>;
      expect(history.map((event) => event.data.event).filter(Boolean)).toEqual(['Before']);
    } finally {
      await node.stop();
      await main.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
