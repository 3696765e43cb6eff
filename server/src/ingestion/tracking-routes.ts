/**
 * Segment's HTTP Tracking API: existing Segment and RudderStack SDKs send here with only `host`
 * changed. Segment's browser library (analytics.js 2.0, `@segment/analytics-next`) posts to the
 * short paths (`/v1/t`, `/v1/i`, `/v1/p`, `/v1/s`, `/v1/g`, `/v1/a`, `/v1/b`) from the website's own
 * origin (and some server libraries upload batches to `/v1/import`), so every route answers CORS, its preflight included: a write key is public in a browser
 * anyway, and only appends are possible with it. The routes are Fastify's own, not a Nest controller's: on an ingestion node the request
 * path is the whole of the work, and Nest's router, execution context and the CommandBus cost about
 * a tenth of a `/v1/track` request (bench:ingest, tenth session). They run the same command handler
 * and map errors with the same function as the rest of the API (`toErrorResponse`).
 */
import { Logger } from '@nestjs/common';
import type { OpenAPIObject } from '@nestjs/swagger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { toErrorResponse } from '../http/error.filter';
import { UnauthorizedError } from '../http/http-errors';
import type { WorkspacesService } from '../workspaces/workspaces.service';
import { IngestTrackingCallCommand } from './commands/ingest-tracking-call.command';
import type { IngestTrackingCallHandler } from './commands/ingest-tracking-call.handler';
import type { SegmentCallType } from './segment/segment-message';

type TrackingCall = SegmentCallType | 'batch';

/** Each call's route and what the OpenAPI document says of it. */
const CALLS: Record<TrackingCall, string> = {
  track: 'Record an action a user performed (Segment track)',
  identify: 'Tie a user to their traits; links an anonymousId to the userId (Segment identify)',
  page: 'Record a page view (Segment page)',
  screen: 'Record a mobile screen view (Segment screen)',
  group: 'Associate a user with a group or account (Segment group)',
  alias: 'Merge a previous id into a user id (Segment alias)',
  batch: 'Send up to 500 KB of calls at once; one bad call rejects the whole batch (Segment batch)',
};

/**
 * Each call's other paths: analytics.js 2.0 posts to the first letter of the type (`b` for a batch),
 * and the Ruby, Java and Android libraries upload their batches to `/v1/import`.
 */
const OTHER_PATHS: Record<TrackingCall, string[]> = {
  track: ['t'],
  identify: ['i'],
  page: ['p'],
  screen: ['s'],
  group: ['g'],
  alias: ['a'],
  batch: ['b', 'import'],
};

/** On every answer of these routes, errors included, so a browser can read them. */
const CORS_ANSWER = { 'access-control-allow-origin': '*' };
/** The preflight's answer: analytics.js sends `Authorization` (Basic, the write key) and `X-Retry-Count`. */
const CORS_PREFLIGHT = {
  ...CORS_ANSWER,
  'access-control-allow-methods': 'POST, OPTIONS',
  'access-control-allow-headers': 'authorization, content-type, content-encoding, x-retry-count',
  'access-control-max-age': '86400',
};

export function registerTrackingRoutes(fastify: FastifyInstance, handler: IngestTrackingCallHandler, workspaces: WorkspacesService): void {
  const logger = new Logger('http');
  // Also for what fails before the handler runs: a body over the limit, JSON that does not parse.
  const errorHandler = (error: unknown, _request: FastifyRequest, reply: FastifyReply) => {
    const { status, body } = toErrorResponse(error);
    if (status >= 500) logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    return reply.status(status).headers(CORS_ANSWER).header('content-type', 'application/json; charset=utf-8').send(body);
  };
  for (const kind of Object.keys(CALLS) as TrackingCall[]) {
    const ingest = async (request: FastifyRequest, reply: FastifyReply) => {
      void reply.headers(CORS_ANSWER);
      const writeKey = writeKeyOf(request);
      // A known key is answered at once; only an unknown one may wait for the workspaces to be reread.
      const workspace = workspaces.workspaceForWriteKey(writeKey) ?? (await workspaces.workspaceForUnknownWriteKey(writeKey));
      if (!workspace) throw new UnauthorizedError('The write key is not known');
      const result = await handler.execute(new IngestTrackingCallCommand(workspace, kind, request.body));
      return { success: true, accepted: result.accepted };
    };
    // With a trailing slash too: analytics-java's default path is `/v1/import/`.
    for (const name of [kind, ...OTHER_PATHS[kind]]) {
      for (const path of [`/v1/${name}`, `/v1/${name}/`]) {
        fastify.post(path, { errorHandler }, ingest);
        fastify.options(path, (_request, reply) => reply.status(204).headers(CORS_PREFLIGHT).send());
      }
    }
  }
}

/** Segment sends the write key as the Basic-auth user name; some clients put `writeKey` in the body. */
function writeKeyOf(request: FastifyRequest): string {
  const writeKey = writeKeyFromHeader(request.headers.authorization) ?? writeKeyFromBody(request.body);
  if (!writeKey) throw new UnauthorizedError('A write key is required: Basic auth with the write key as user name, or `writeKey` in the body');
  return writeKey;
}

export function writeKeyFromHeader(header: string | undefined): string | undefined {
  const match = /^Basic\s+(.+)$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1].trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon === -1 ? decoded : decoded.slice(0, colon);
  return user || undefined;
}

function writeKeyFromBody(body: unknown): string | undefined {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const key = (body as { writeKey?: unknown }).writeKey;
    if (typeof key === 'string' && key.length > 0) return key;
  }
  return undefined;
}

/** The routes in the OpenAPI document, which Nest's swagger module builds from controllers only. */
export function documentTrackingRoutes(document: OpenAPIObject): OpenAPIObject {
  const answer = {
    description: 'Accepted once durable: `{ success: true, accepted }` (a duplicate messageId is accepted and stored once)',
  };
  for (const [kind, summary] of Object.entries(CALLS)) {
    document.paths[`/v1/${kind}`] = {
      post: {
        tags: ['tracking'],
        summary,
        security: [{ basic: [] }],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } },
        responses: { 200: answer, 400: { description: 'The call names the bad field' }, 401: { description: 'Unknown or missing write key' } },
      },
    };
  }
  return document;
}
