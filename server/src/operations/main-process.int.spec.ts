/**
 * `npm start` runs `server/dist/main.js`: this starts that file as its own process, the way a user
 * does, and reads what it prints. It covers what an in-process test app cannot see: JSON logs on
 * stdout, the generated secrets printed once, and PORT and DATA_DIR taken from the environment.
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startMain } from '../test-support/main-process';

let dataDir: string;
beforeEach(() => (dataDir = mkdtempSync(join(tmpdir(), 'herald-main-'))));
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

it('listens on PORT with the API and the dashboard, keeps its data in DATA_DIR, prints the generated secrets once, and logs JSON lines', async () => {
  const port = await freePort();
  const env = { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info' };
  const first = await startMain(env);
  let writeKey: string | undefined;
  let adminToken: string | undefined;
  try {
    const printed = first.stdout();
    writeKey = /Write key \(workspace "default"\): (\S+)/.exec(printed)?.[1];
    adminToken = /Admin token \(Authorization: Bearer \.\.\.\): (\S+)/.exec(printed)?.[1];
    expect(writeKey).toMatch(/^wk_/);
    expect(adminToken).toMatch(/^adm_/);
    expect(printed).toContain(`Herald is listening on http://localhost:${port}`);

    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/health`)).status).toBe(200);
    const dashboard = await fetch(`${base}/`);
    expect(dashboard.status).toBe(200);
    expect(await dashboard.text()).toContain('<div id="app"></div>');
    const track = await fetch(`${base}/v1/track`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}` },
      body: JSON.stringify({ userId: 'main-1', event: 'Started' }),
    });
    expect(track.status).toBe(200);
    expect(existsSync(join(dataDir, 'events.sqlite'))).toBe(true);
    expect(existsSync(join(dataDir, 'state.sqlite'))).toBe(true);

    // Every log line is one JSON object from pino; the only other lines are the secrets and the
    // listening line, written for a person to read.
    const lines = first.stdout().split('\n').filter((line) => line.trim() !== '');
    const logs = lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logs.length).toBeGreaterThan(0);
    for (const log of logs) expect(log).toMatchObject({ level: expect.any(Number), time: expect.any(Number), service: 'herald', msg: expect.any(String) });
    const text = lines.filter((line) => !line.startsWith('{'));
    expect(text).toEqual([
      'Herald first start: save these, they are not shown again.',
      expect.stringMatching(/^ {2}Write key/),
      expect.stringMatching(/^ {2}Admin token/),
      expect.stringMatching(/^Herald is listening on/),
    ]);
  } finally {
    await first.stop();
  }

  const second = await startMain(env);
  try {
    expect(second.stdout()).not.toContain('first start');
    expect(second.stdout()).not.toContain(adminToken!);
    const history = await fetch(`http://127.0.0.1:${port}/api/users/main-1/events`, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(history.status).toBe(200);
    expect(((await history.json()) as { events: unknown[] }).events).toHaveLength(1);
  } finally {
    await second.stop();
  }
});
