/**
 * Builds the Herald application: Nest on Fastify, the tracking API (Fastify routes of its own), /api,
 * /health, /metrics, /docs and the dashboard; an ingestion node (HERALD_ROLE=ingest) serves the tracking
 * API, /health, /metrics and /docs.
 */
import 'reflect-metadata';
import fastifyStatic from '@fastify/static';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { type FastifyInstance, LogController } from 'fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { existsSync } from 'node:fs';
import { AppModule, type HeraldModuleOptions } from './app.module';
import { IngestNodeModule } from './ingest-node.module';
import { IngestTrackingCallHandler } from './ingestion/commands/ingest-tracking-call.handler';
import { documentTrackingRoutes, registerTrackingRoutes } from './ingestion/tracking-routes';
import { WorkspacesService } from './workspaces/workspaces.service';
import { MAX_BODY_BYTES, registerJsonBodyParser } from './http/body-parsers';
import { createPino, lazyRequestLogger, PinoNestLogger } from './http/logger';

export async function createHeraldApp(options: HeraldModuleOptions): Promise<NestFastifyApplication> {
  const pino = createPino(options.config.logLevel);
  const adapter = new FastifyAdapter({
    loggerInstance: pino,
    // No per-request log lines: at tens of thousands of tracking calls a second they cost more than
    // the work, and stream URLs carry access tokens. Errors are logged by the error filter.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyRequestLogger,
    bodyLimit: MAX_BODY_BYTES,
    trustProxy: true,
    // Signed links (tracking, unsubscribe, preferences) carry tokens longer than Fastify's default 100.
    routerOptions: { maxParamLength: 4096 },
  });
  const module = options.config.role === 'ingest' ? IngestNodeModule.forRoot(options) : AppModule.forRoot(options);
  const app = await NestFactory.create<NestFastifyApplication>(module, adapter, {
    logger: new PinoNestLogger(pino),
    bodyParser: false,
    abortOnError: false,
  });
  registerJsonBodyParser(app.getHttpAdapter().getInstance());
  closeConnectionsWhenIdleOnClose(app.getHttpAdapter().getInstance());
  registerTrackingRoutes(app.getHttpAdapter().getInstance(), app.get(IngestTrackingCallHandler), app.get(WorkspacesService));

  const openApi = new DocumentBuilder()
    .setTitle('Herald')
    .setDescription('Tracking API (Segment-compatible) and the admin API of Herald')
    .setVersion('0.1.0')
    .addBasicAuth()
    .addBearerAuth()
    .build();
  SwaggerModule.setup('docs', app, () => documentTrackingRoutes(SwaggerModule.createDocument(app, openApi)), { jsonDocumentUrl: 'docs/openapi.json' });

  if (options.config.role === 'all' && existsSync(options.config.dashboardDir)) {
    await app.register(fastifyStatic, { root: options.config.dashboardDir, prefix: '/', decorateReply: false });
  }
  app.enableShutdownHooks();
  await app.init();
  return app;
}

/**
 * On close, Fastify answers new requests 503 and closes the keep-alive connections idle at that
 * moment, but one busy then stays open after its answer until `keepAliveTimeout` (72 s), and the
 * server's close waits for it: a SIGTERM under load took 70 s to stop Herald (a container's grace
 * period is usually 10 s, after which the stop is a SIGKILL). Close each one once its answer is out.
 */
function closeConnectionsWhenIdleOnClose(fastify: FastifyInstance): void {
  fastify.addHook('preClose', (done) => {
    const server = fastify.server;
    const sweep = setInterval(() => server.closeIdleConnections(), 50).unref();
    server.once('close', () => clearInterval(sweep));
    done();
  });
}
