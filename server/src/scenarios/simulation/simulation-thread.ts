/**
 * A simulation on a worker thread of its own (started by ScenarioSimulations): it opens the log
 * read-only with its own connection, runs the draft over the history and posts the report, so the
 * server's event loop keeps serving while it reads and decides.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ScenarioDefinition } from '@herald/projections';
import type { HeraldConfig } from '../../config';
import { createEventStore } from '../../event-store/create-event-store';
import type { EventStore } from '../../event-store/event-store.port';
import { type SimulateOptions, type SimulationReport, simulateScenario } from './simulate-scenario';

export interface SimulationThreadData {
  /** Where the log is: the server's own settings. */
  log: Pick<HeraldConfig, 'eventStoreUrl' | 'dataDir'>;
  definition: ScenarioDefinition;
  options: Omit<SimulateOptions, 'onProgress'>;
}

export type FromSimulationThread = { report: SimulationReport } | { failure: { name: string; message: string } };

async function run(port: NonNullable<typeof parentPort>, data: SimulationThreadData): Promise<void> {
  let message: FromSimulationThread;
  let store: EventStore | undefined;
  try {
    store = createEventStore(data.log, { readonly: true });
    message = { report: await simulateScenario(store, data.definition, data.options) };
  } catch (error) {
    message = { failure: { name: (error as Error).name ?? 'Error', message: (error as Error).message ?? String(error) } };
  } finally {
    await store?.close();
  }
  port.postMessage(message);
}

if (parentPort) void run(parentPort, workerData as SimulationThreadData);
