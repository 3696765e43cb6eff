/**
 * JSON bodies, as Segment's SDKs send them: `application/json`, `text/plain` from browser beacons, or
 * no useful type at all (RudderStack's node SDK posts a gzip Buffer without one), optionally gzip- or
 * deflate-compressed. Every body is read as JSON. Decompression is bounded by the same limit as the
 * body, so a small compressed bomb cannot blow up memory.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { gunzipSync, inflateSync } from 'node:zlib';

export const MAX_BODY_BYTES = 500 * 1024;

class BodyError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export function registerJsonBodyParser(fastify: FastifyInstance): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: MAX_BODY_BYTES },
    (request: FastifyRequest, raw: Buffer, done: (error: Error | null, body?: unknown) => void) => {
      try {
        const text = decode(request, raw).toString('utf8');
        if (text.trim() === '') return done(new BodyError(400, 'The request body is empty; send a JSON object'));
        done(null, JSON.parse(text));
      } catch (error) {
        if (error instanceof BodyError) return done(error);
        done(new BodyError(400, `The request body is not valid JSON: ${(error as Error).message}`));
      }
    },
  );
}

function decode(request: FastifyRequest, raw: Buffer): Buffer {
  const encoding = String(request.headers['content-encoding'] ?? 'identity').toLowerCase();
  try {
    if (encoding === 'gzip') return gunzipSync(raw, { maxOutputLength: MAX_BODY_BYTES });
    if (encoding === 'deflate') return inflateSync(raw, { maxOutputLength: MAX_BODY_BYTES });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError) {
      throw new BodyError(413, `The decompressed body is over the limit of ${MAX_BODY_BYTES} bytes`);
    }
    throw new BodyError(400, `The body could not be decompressed as ${encoding}`);
  }
  if (encoding !== 'identity') throw new BodyError(415, `Content-Encoding ${encoding} is not supported; use gzip or deflate`);
  return raw;
}
