/**
 * The one place where errors become HTTP responses. Every client mistake gets a 4xx with a JSON body
 * `{ error, message, ... }` naming the problem; only a fault of Herald itself is a 5xx.
 */
import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { EventStoreUnavailableError, InvalidEventError, WrongExpectedRevisionError } from '../event-store/errors';
import { InvalidTrackingCallError } from '../ingestion/ingestion.errors';
import { BadRequestError, ConflictError, InvalidDefinitionError, NotFoundError, UnauthorizedError } from './http-errors';

export interface ErrorBody {
  error: string;
  message: string;
  [key: string]: unknown;
}

export function toErrorResponse(error: unknown): { status: number; body: ErrorBody } {
  if (error instanceof InvalidTrackingCallError) {
    const body: ErrorBody = { error: error.code, message: error.message, problems: error.problems };
    if (error.index !== undefined) body.index = error.index;
    return { status: error.status, body };
  }
  if (error instanceof UnauthorizedError) return { status: 401, body: { error: 'unauthorized', message: error.message } };
  if (error instanceof NotFoundError) return { status: 404, body: { error: 'not_found', message: error.message } };
  if (error instanceof BadRequestError) {
    return { status: 400, body: { error: 'bad_request', message: error.message, ...(error.path ? { path: error.path } : {}) } };
  }
  if (error instanceof InvalidDefinitionError) {
    return { status: 400, body: { error: 'invalid_definition', message: error.message, problems: error.problems } };
  }
  if (error instanceof ConflictError) return { status: 409, body: { error: 'conflict', message: error.message } };
  if (error instanceof WrongExpectedRevisionError) return { status: 409, body: { error: 'conflict', message: error.message } };
  if (error instanceof InvalidEventError) return { status: 400, body: { error: 'invalid_event', message: error.message } };
  if (error instanceof EventStoreUnavailableError) {
    return { status: 503, body: { error: 'store_unavailable', message: error.message } };
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    return { status, body: { error: codeFor(status), message: error.message } };
  }
  // Errors Fastify raises before a handler runs (body too large, bad JSON, unsupported media type).
  const statusCode = (error as { statusCode?: unknown })?.statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    return { status: statusCode, body: { error: codeFor(statusCode), message: (error as Error).message } };
  }
  return { status: 500, body: { error: 'internal_error', message: 'Internal error; it has been logged' } };
}

function codeFor(status: number): string {
  const codes: Record<number, string> = {
    400: 'bad_request',
    401: 'unauthorized',
    403: 'forbidden',
    404: 'not_found',
    405: 'method_not_allowed',
    409: 'conflict',
    413: 'payload_too_large',
    415: 'unsupported_media_type',
    422: 'unprocessable',
    429: 'too_many_requests',
    503: 'unavailable',
  };
  return codes[status] ?? (status >= 500 ? 'internal_error' : 'bad_request');
}

@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  catch(error: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const { status, body } = toErrorResponse(error);
    if (status >= 500) this.logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    void reply.status(status).header('content-type', 'application/json; charset=utf-8').send(body);
  }
}
