/** Starts a real Herald (real SQLite log, real HTTP on a free port) in a temporary data folder. */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHeraldApp } from '../app';
import { configFromEnv, type HeraldConfig } from '../config';
import { EVENT_STORE, type EventStore } from '../event-store/event-store.port';
import { ProjectionRunner } from '../projection-runner/projection-runner';
import type { Clock, TestClock } from '../shared/clock';

export const TEST_WRITE_KEY = 'wk_test_write_key';
export const TEST_ADMIN_TOKEN = 'adm_test_admin_token';

export interface TestApp {
  app: NestFastifyApplication;
  url: string;
  dataDir: string;
  config: HeraldConfig;
  firstStartSecrets?: { writeKey?: string; adminToken?: string };
  close(): Promise<void>;
  /** Closes and deletes the data folder. */
  destroy(): Promise<void>;
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'herald-test-'));
}

export async function startTestApp(
  options: { dataDir?: string; env?: Record<string, string | undefined>; clock?: Clock } = {},
): Promise<TestApp> {
  const dataDir = options.dataDir ?? tempDataDir();
  const config = configFromEnv({
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    DEFAULT_WRITE_KEY: TEST_WRITE_KEY,
    LOG_LEVEL: 'warn',
    // Off unless a test asks for it (ANALYTICS: 'on'): chDB binds one data folder per process, and
    // most suites start several apps, each in its own folder.
    ANALYTICS: 'off',
    ...options.env,
  });
  let firstStartSecrets: TestApp['firstStartSecrets'];
  const app = await createHeraldApp({ config, clock: options.clock, onFirstStart: (s) => (firstStartSecrets = s) });
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const close = () => app.close();
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    dataDir,
    config,
    firstStartSecrets,
    close,
    destroy: async () => {
      await close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function basicAuth(writeKey: string): string {
  return `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: basicAuth(TEST_WRITE_KEY), ...headers },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

export async function adminGet(url: string, token = TEST_ADMIN_TOKEN) {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (e.g. /metrics)
  }
  return { status: response.status, body: body as any, headers: response.headers };
}

export async function adminSend(method: string, url: string, body?: unknown, contentType = 'application/json') {
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': contentType }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/**
 * Saves a one-line Liquid template under each id, for tests whose scenarios send messages nobody
 * reads: a scenario may only name templates its workspace has.
 */
export async function saveTemplates(baseUrl: string, ...ids: string[]): Promise<void> {
  for (const id of ids) {
    const saved = await adminSend('PUT', `${baseUrl}/api/templates/${id}`, { format: 'liquid', subject: id, body: `Template ${id}` });
    if (saved.status !== 201 && saved.status !== 200) throw new Error(`Saving template ${id}: ${saved.status} ${JSON.stringify(saved.body)}`);
  }
}

/** Polls until `check` returns a truthy value (projections catch up asynchronously). */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw last instanceof Error ? last : new Error('Timed out waiting for a condition');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until every projection has handled every event in the log (the log may grow meanwhile). */
export async function settleProjections(herald: TestApp): Promise<void> {
  const store = herald.app.get<EventStore>(EVENT_STORE);
  const runner = herald.app.get(ProjectionRunner);
  for (;;) {
    const head = await store.headPosition();
    await eventually(async () => runner.names().every((name) => runner.checkpoint(name) >= head), 10_000).catch(() => {
      const behind = runner.names().filter((name) => runner.checkpoint(name) < head);
      throw new Error(`Projections stuck behind the log head ${head}: ${behind.map((name) => `${name} at ${runner.checkpoint(name)}`).join(', ')}`);
    });
    if ((await store.headPosition()) === head) return;
  }
}

/**
 * Moves the test clock to `to` and fires every timer of `timers` due by then, until none is left (as
 * a running clock would), with the projections settled before and after each round.
 */
export async function passTimersTo(herald: TestApp, clock: TestClock, to: Date, timers: Array<{ fireDue(): Promise<number> }>): Promise<void> {
  await settleProjections(herald);
  clock.set(to);
  for (;;) {
    await settleProjections(herald);
    let fired = 0;
    for (const timer of timers) fired += await timer.fireDue();
    if (fired === 0) return;
  }
}
