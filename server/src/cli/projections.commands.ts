import Database from 'better-sqlite3';
import { SingleBar } from 'cli-progress';
import { existsSync } from 'node:fs';
import type { EventStore } from '../event-store/event-store.port';
import { identityProjection } from '../identity/identity.projection';
import { ingestedIdsProjection } from '../ingestion/dedupe/ingested-ids.projection';
import { listParked, type ParkedEventRow } from '../projection-runner/parked-events';
import { type HostedProjection, ProjectionRunner } from '../projection-runner/projection-runner';
import { SegmentsProjection } from '../segments/segments.projection';
import type { StateDb } from '../state/state-db';
import { ScenarioCatalog } from '../scenarios/scenario-catalog';
import { ScenarioEngine } from '../scenarios/scenario-engine';
import { ScenariosProjection } from '../scenarios/scenarios.projection';
import { MessagingSettingsService } from '../settings/messaging-settings.service';
import { systemClock } from '../shared/clock';

/** Every projection the server hosts, by name, as a rebuild runs them. */
export function allProjections(db: StateDb, store: EventStore): HostedProjection[] {
  const engine = new ScenarioEngine(store, new ScenarioCatalog(store, systemClock), new MessagingSettingsService(store, systemClock));
  // Only for rebuilds: decisions are already in the log, so neither projection builds them again
  // (scenarios rebuilds its timer index, segments its profiles and membership).
  const hosted = [identityProjection, new SegmentsProjection(db, store, false), new ScenariosProjection(engine, false)];
  // The messageId index exists only where the log does not refuse a known id itself.
  return store.kind === 'kurrentdb' ? [ingestedIdsProjection, ...hosted] : hosted;
}

/** Rebuilds the named projections (all when none are named) in one pass over the log. */
export async function rebuildProjections(
  store: EventStore,
  db: StateDb,
  names: string[],
  progress?: NodeJS.WritableStream,
): Promise<{ names: string[]; events: number; seconds: number }> {
  const known = allProjections(db, store);
  const unknown = names.filter((name) => !known.some((projection) => projection.name === name));
  if (unknown.length > 0) throw new Error(`Unknown projection ${unknown.join(', ')}; known: ${known.map((p) => p.name).join(', ')}`);
  const selected = names.length === 0 ? known : known.filter((projection) => names.includes(projection.name));
  const label = selected.map((projection) => projection.name).join(', ');
  const bar = progress
    ? new SingleBar({ stream: progress, format: `Rebuilding ${label} [{bar}] {percentage}% | {value}/{total} | {eta_formatted} left` })
    : undefined;
  const started = process.hrtime.bigint();
  let head = 0;
  bar?.start(await store.headPosition(), 0);
  try {
    await new ProjectionRunner(store, db).rebuildAll(selected, (position, total) => {
      head = total;
      bar?.update(position);
    });
  } finally {
    bar?.stop();
  }
  return { names: selected.map((projection) => projection.name), events: head, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** The parked events in a state database, read-only (the server may be running). */
export function readParked(statePath: string): ParkedEventRow[] {
  if (!existsSync(statePath)) return [];
  const db = new Database(statePath, { readonly: true, fileMustExist: true });
  try {
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'projection_parked'").get();
    return table ? listParked(db) : [];
  } finally {
    db.close();
  }
}

export function formatParked(rows: ParkedEventRow[], json: boolean): string {
  if (json) return rows.map((row) => `${JSON.stringify({ ...row, parked_at: new Date(row.parked_at).toISOString() })}\n`).join('');
  if (rows.length === 0) return 'No parked events.\n';
  const lines = rows.map(
    (row) => `${new Date(row.parked_at).toISOString()}  ${row.projection}  position ${row.position}  ${row.type} ${row.event_id} (${row.stream}), ${row.attempts} attempts: ${row.error}\n`,
  );
  return `${lines.join('')}After a fix, replay them on the running server: POST /api/operations/parked/<projection>/replay (docs/deployment.md).\n`;
}
