import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { EVENT_STORE, type EventStore } from '../event-store/event-store.port';
import { ProjectionRunner } from '../projection-runner/projection-runner';
import { Metrics } from './metrics';

@ApiTags('operations')
@Controller()
export class OperationsController {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly runner: ProjectionRunner,
    private readonly metrics: Metrics,
  ) {}

  @Get('health')
  @ApiOperation({ summary: '200 once the event store is open and answering, 503 otherwise' })
  async health(@Res({ passthrough: true }) reply: FastifyReply) {
    try {
      const head = await this.store.headPosition();
      return { status: 'ok', store: this.store.kind, head };
    } catch (error) {
      void reply.status(503);
      return { status: 'unavailable', store: this.store.kind, message: (error as Error).message };
    }
  }

  @Get('metrics')
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ summary: 'Prometheus metrics: ingested events, append latency, subscription lag' })
  async prometheus(): Promise<string> {
    try {
      const head = await this.store.headPosition();
      this.metrics.logHead.set(head);
      for (const name of this.runner.names()) {
        this.metrics.subscriptionLag.set({ subscriber: `projection:${name}` }, Math.max(0, head - this.runner.checkpoint(name)));
        this.metrics.parkedEvents.set({ projection: name }, this.runner.parkedCount(name));
      }
    } catch {
      // The store being down is reported by /health; metrics still answer with what they have.
    }
    return this.metrics.registry.metrics();
  }
}
