/**
 * The store keeps recently read events for the other subscribers. Reading the log from the start
 * again after its newest part was kept (a subscriber replaying from position 0, such as the
 * analytics sink) must work, and return the same events.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newEvent } from '../event-store.contract';
import { SqliteEventStore } from './sqlite-event-store';

it('reads from the start again after the newest 20,000+ events were kept', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'herald-recent-'));
  const store = new SqliteEventStore({ path: join(folder, 'events.sqlite') });
  try {
    for (let batch = 0; batch < 50; batch++) {
      await store.append(`user-default:${batch}`, Array.from({ length: 500 }, (_, i) => newEvent('Tested', { batch, i })));
    }
    const head = await store.headPosition();
    const readAll = async () => {
      const positions: number[] = [];
      for (let from = 1; from <= head; ) {
        const page = await store.readAll({ fromPosition: from, maxCount: 5000 });
        positions.push(...page.map((event) => event.position));
        from = page[page.length - 1].position + 1;
      }
      return positions;
    };
    const first = await readAll();
    expect(await readAll()).toEqual(first);
    expect(await readAll()).toHaveLength(head);
  } finally {
    await store.close();
    rmSync(folder, { recursive: true, force: true });
  }
});
