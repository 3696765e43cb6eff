/**
 * A person's history (`GET /api/users/:userId/events`) names the events of theirs that a projection
 * parked (docs/deployment.md), so an audit of why nothing happened after an event finds the reason.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { adminGet, post, startTestApp, type TestApp } from '../test-support/herald-test-app';

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
  });
});
