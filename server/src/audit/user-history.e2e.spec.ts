/**
 * A person's history (`GET /api/users/:userId/events`) names the events of theirs that a projection
 * parked (docs/deployment.md), so an audit of why nothing happened after an event finds the reason;
 * `/api/operations/parked` lists them all and replays them after a fix.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { adminGet, adminSend, post, startTestApp, type TestApp } from '../test-support/herald-test-app';

describe('a person history with parked events', () => {
  let herald: TestApp;
  beforeAll(async () => {
    herald = await startTestApp();
  });
  afterAll(() => herald.destroy());

  it('lists the events of the person that a projection parked, with the failure, and no others', async () => {
    expect((await post(`${herald.url}/v1/track`, { userId: 'grace', event: 'Checkout Started' })).status).toBe(200);
    expect((await post(`${herald.url}/v1/track`, { userId: 'other', event: 'Checkout Started' })).status).toBe(200);
    const history = async (userId: string) => (await adminGet(`${herald.url}/api/users/${userId}/events`)).body as {
      events: Array<{ id: string; position: number; stream: string; type: string }>;
      parked: unknown[];
    };
    const before = await history('grace');
    expect(before.parked).toEqual([]);
    const [event] = before.events;
    const [elsewhere] = (await history('other')).events;
    // As the runner records a parked event (parked-events.ts), beside the running server.
    const state = new Database(join(herald.dataDir, 'state.sqlite'), { timeout: 5000 });
    try {
      const insert = state.prepare('INSERT INTO projection_parked (projection, position, event_id, stream, type, attempts, error, parked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
      insert.run('scenarios', event.position, event.id, event.stream, event.type, 5, "Cannot read properties of undefined (reading 'cart_id')", Date.parse('2026-11-27T10:00:00Z'));
      insert.run('segments', elsewhere.position, elsewhere.id, elsewhere.stream, elsewhere.type, 5, 'boom', Date.parse('2026-11-27T10:00:00Z'));
    } finally {
      state.close();
    }
    expect((await history('grace')).parked).toEqual([
      {
        projection: 'scenarios',
        eventId: event.id,
        position: event.position,
        type: 'Tracked',
        attempts: 5,
        error: "Cannot read properties of undefined (reading 'cart_id')",
        parkedAt: '2026-11-27T10:00:00.000Z',
      },
    ]);

    // The operator lists what is parked, and replays the scenario engine's event after a fix.
    const listed = await adminGet(`${herald.url}/api/operations/parked`);
    expect(listed.status).toBe(200);
    expect((listed.body.parked as Array<{ projection: string; position: number }>).map((row) => [row.projection, row.position])).toEqual([
      ['scenarios', event.position],
      ['segments', elsewhere.position],
    ]);
    const replay = await adminSend('POST', `${herald.url}/api/operations/parked/scenarios/replay`, { positions: [event.position] });
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual({
      replayed: [{ projection: 'scenarios', position: event.position, eventId: event.id, stream: event.stream, type: 'Tracked', outcome: 'handled', attempts: 5 }],
    });
    expect((await history('grace')).parked).toEqual([]);
    expect((await history('other')).parked).toHaveLength(1);
  });

  it('answers a replay of a projection it does not run with 404, a malformed one with 400, and nothing parked with an empty list', async () => {
    expect((await adminSend('POST', `${herald.url}/api/operations/parked/nothing/replay`, {})).status).toBe(404);
    const malformed = await adminSend('POST', `${herald.url}/api/operations/parked/scenarios/replay`, { positions: ['1'] });
    expect(malformed.status).toBe(400);
    expect(JSON.stringify(malformed.body)).toContain('positions');
    expect((await adminSend('POST', `${herald.url}/api/operations/parked/scenarios/replay`, { position: 1 })).status).toBe(400);
    expect(await adminSend('POST', `${herald.url}/api/operations/parked/dispatch/replay`)).toEqual({ status: 200, body: { replayed: [] } });
    expect((await fetch(`${herald.url}/api/operations/parked`)).status).toBe(401);
  });
});
