/** Write keys on an ingestion node, which reads the workspaces that its main process writes. */
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { TestClock } from '../shared/clock';
import { WorkspacesService } from './workspaces.service';

let store: SqliteEventStore;
beforeEach(() => (store = new SqliteEventStore({ path: ':memory:' })));
afterEach(() => store.close());

it('refuses to serve a log without workspaces: the main process creates them', async () => {
  await expect(new WorkspacesService(store, new TestClock(), 1000).loadExisting()).rejects.toThrow(/start the main Herald process/);
});

it('learns a write key the main process added, rereading the log at most once a second', async () => {
  const clock = new TestClock();
  await new WorkspacesService(store, clock).bootstrap({ adminToken: 'adm', defaultWriteKey: 'wk_first' });
  const node = new WorkspacesService(store, clock, 1000);
  await node.loadExisting();
  expect(node.workspaceForWriteKey('wk_first')).toBe('default');

  // An unknown key first: the reread it starts finds nothing new, and the next one waits a second.
  expect(await node.workspaceForUnknownWriteKey('wk_bad')).toBeUndefined();
  // The main process restarts with a new DEFAULT_WRITE_KEY (a rotation).
  await new WorkspacesService(store, clock).bootstrap({ adminToken: 'adm', defaultWriteKey: 'wk_second' });
  expect(node.workspaceForWriteKey('wk_second')).toBeUndefined();
  expect(await node.workspaceForUnknownWriteKey('wk_second')).toBeUndefined();
  clock.advance(1000);
  expect(await node.workspaceForUnknownWriteKey('wk_second')).toBe('default');
  expect(node.workspaceForWriteKey('wk_first')).toBe('default');
});

it('never rereads in the main process, the only writer of workspaces', async () => {
  const main = new WorkspacesService(store, new TestClock());
  await main.bootstrap({ adminToken: 'adm', defaultWriteKey: 'wk_first' });
  await new WorkspacesService(store, new TestClock()).bootstrap({ adminToken: 'adm', defaultWriteKey: 'wk_second' });
  expect(await main.workspaceForUnknownWriteKey('wk_second')).toBeUndefined();
});
