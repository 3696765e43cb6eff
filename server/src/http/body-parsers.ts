/**
 * JSON bodies, as Segment's SDKs send them: `application/json`, `text/plain` from browser beacons, or
 * no useful type at all (RudderStack's node SDK posts a gzip Buffer without one), optionally gzip- or
 * deflate-compressed. Every body is read as JSON, except YAML (`application/yaml`) for definitions, forms (`application/x-www-form-urlencoded`) for provider webhooks
 * and raw mail (`message/rfc822`, kept as a Buffer) for complaint and bounce reports. Decompression is bounded by the same limit as the
 * body, so a small compressed bomb cannot blow up memory.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { gunzipSync, inflateSync } from 'node:zlib';
import { MAX_NESTING } from '@herald/projections';
import { parseDocument } from 'yaml';
import { yamlTooDeep } from '../shared/yaml-nesting';

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
        const contentType = request.headers['content-type'];
        if (isMultipartForm(contentType)) {
          parseMultipartForm(decode(request, raw), contentType!).then(
            (body) => done(null, body),
            () => done(new BodyError(400, 'The request body is not valid multipart/form-data')),
          );
          return;
        }
        // Mail reports (complaints, bounces) are raw MIME: kept as bytes for the mail parser.
        if (isRawMail(contentType)) return done(null, decode(request, raw));
        const text = decode(request, raw).toString('utf8');
        if (isYaml(contentType)) return done(null, parseYamlBody(text));
        if (isForm(contentType) && !looksLikeJson(text)) return done(null, parseFormBody(text));
        if (text.trim() === '') return done(new BodyError(400, 'The request body is empty; send a JSON object'));
        done(null, JSON.parse(text));
      } catch (error) {
        if (error instanceof BodyError) return done(error);
        done(new BodyError(400, `The request body is not valid JSON: ${(error as Error).message}`));
      }
    },
  );
}

/** RFC 8058 one-click unsubscribes (`List-Unsubscribe=One-Click`) may come as multipart/form-data; read like a form. */
function isMultipartForm(contentType: string | undefined): boolean {
  return /^multipart\/form-data\b/i.test(contentType ?? '');
}

async function parseMultipartForm(raw: Buffer, contentType: string): Promise<Record<string, string | string[]>> {
  const form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
  const fields = new URLSearchParams();
  for (const [name, value] of form) if (typeof value === 'string') fields.append(name, value);
  return parseFormBody(fields.toString());
}

/** A whole mail message, headers included. */
function isRawMail(contentType: string | undefined): boolean {
  return /^message\/rfc822\b/i.test(contentType ?? '');
}

/** Definitions (segments, scenarios, settings) may be sent as YAML with `Content-Type: application/yaml`. */
function isYaml(contentType: string | undefined): boolean {
  return /^(application|text)\/(x-)?yaml\b/i.test(contentType ?? '');
}

/** Provider webhooks (Twilio) post HTML forms. */
function isForm(contentType: string | undefined): boolean {
  return /^application\/x-www-form-urlencoded\b/i.test(contentType ?? '');
}

/**
 * HTTP clients built on axios label any Buffer body as a form (RudderStack's node SDK posts gzipped
 * JSON that way), so a "form" that opens like JSON is read as JSON. Real forms start with a field name.
 */
function looksLikeJson(text: string): boolean {
  return /^\s*[[{]/.test(text);
}

/** A form as a plain object; a repeated name becomes an array of its values, in order. */
function parseFormBody(text: string): Record<string, string | string[]> {
  const body: Record<string, string | string[]> = Object.create(null);
  for (const [name, value] of new URLSearchParams(text)) {
    const existing = body[name];
    body[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return { ...body };
}

function parseYamlBody(text: string): unknown {
  const deep = yamlTooDeep(text, MAX_NESTING);
  if (deep !== undefined) throw new BodyError(400, `The request body is not valid YAML: line ${deep} nests lists or mappings more than ${MAX_NESTING} levels deep`);
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const [first] = document.errors;
  if (first) {
    // With prettyErrors the first line reads "<problem> at line L, column C:".
    throw new BodyError(400, `The request body is not valid YAML: ${first.message.split('\n')[0].replace(/:$/, '')}`);
  }
  if (text.trim() === '') throw new BodyError(400, 'The request body is empty; send a YAML document');
  try {
    return document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // yaml throws here, not in document.errors, for aliases it will not expand (too many, or no anchor).
    throw new BodyError(400, `The request body is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
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
