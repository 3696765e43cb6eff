/**
 * `POST /api/scenarios/simulate`: runs a draft over the recorded history, as `herald simulate` does,
 * on a worker thread of its own (simulation-thread.ts). The server's event loop keeps serving
 * meanwhile, and a simulation that outgrows its heap ends its thread, not the server. One runs at a
 * time: it reads the whole log, and two would only halve each other's speed.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { HttpException } from '@nestjs/common';
import type { ScenarioDefinition } from '@herald/projections';
import type { HeraldConfig } from '../../config';
import { EventStoreUnavailableError } from '../../event-store/errors';
import { BadRequestError } from '../../http/http-errors';
import type { Clock } from '../../shared/clock';
import type { SimulationReport } from './simulate-scenario';
import type { FromSimulationThread, SimulationThreadData } from './simulation-thread';

/** The simulation thread's heap limit: the simulated persons' states live there (`history.persons`). */
export const SIMULATION_HEAP_MB = 2048;

export class ScenarioSimulations {
  /** The simulation's thread while one runs. */
  private running?: Worker;
  private stopping = false;

  constructor(
    private readonly log: Pick<HeraldConfig, 'eventStoreUrl' | 'dataDir'>,
    private readonly clock: Clock,
    private readonly heapMb = SIMULATION_HEAP_MB,
  ) {}

  /** `to` defaults to the clock's now. */
  async run(definition: ScenarioDefinition, window: { workspace: string; from: number; to?: number }): Promise<SimulationReport> {
    const options: SimulationThreadData['options'] = { ...window, to: window.to ?? this.clock.now().getTime() };
    if (options.from > options.to) {
      throw new BadRequestError(`from (${new Date(options.from).toISOString()}) is after to (${new Date(options.to).toISOString()})`, 'from');
    }
    if (this.stopping) throw new HttpException('Herald is shutting down', 503);
    if (this.running) throw new HttpException('A simulation is already running on this server; try again when it has finished', 429);
    const data: SimulationThreadData = { log: { eventStoreUrl: this.log.eventStoreUrl, dataDir: this.log.dataDir }, definition, options };
    const worker = new Worker(join(__dirname, 'simulation.worker.js'), { workerData: data, resourceLimits: { maxOldGenerationSizeMb: this.heapMb } });
    this.running = worker;
    try {
      return await this.outcome(worker);
    } finally {
      this.running = undefined;
    }
  }

  /** On shutdown: a simulation still running ends with its thread (its request gets a 503), and no other starts. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running?.terminate();
  }

  private outcome(worker: Worker): Promise<SimulationReport> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        outcome();
      };
      worker.once('message', (message: FromSimulationThread) =>
        settle(() => ('report' in message ? resolve(message.report) : reject(threadFailure(message.failure)))),
      );
      worker.once('error', (error: Error & { code?: string }) =>
        settle(() =>
          reject(
            error.code === 'ERR_WORKER_OUT_OF_MEMORY'
              ? new HttpException(`The simulation needed more than its ${this.heapMb} MB heap; simulate a shorter window or one workspace with fewer persons`, 422)
              : error,
          ),
        ),
      );
      worker.once('exit', (code) =>
        settle(() =>
          reject(
            this.stopping
              ? new HttpException('Herald is shutting down: the simulation was stopped', 503)
              : new Error(`The simulation thread ended (exit code ${code}) without a report`),
          ),
        ),
      );
    });
  }
}

/** An error of the thread, as the HTTP edge should see it (the filter maps errors by class). */
function threadFailure(failure: { name: string; message: string }): Error {
  if (failure.name === 'SimulationWindowError') return new BadRequestError(failure.message, 'from');
  if (failure.name === 'EventStoreUnavailableError') return new EventStoreUnavailableError(failure.message);
  const error = new Error(failure.message);
  error.name = failure.name;
  return error;
}
