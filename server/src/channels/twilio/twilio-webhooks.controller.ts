/**
 * Twilio calls these, so there is no admin token: every request must carry a valid
 * `X-Twilio-Signature` instead, or it gets 401 and changes nothing.
 */
import { Body, Controller, Headers, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiConsumes, ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NotFoundError, UnauthorizedError } from '../../http/http-errors';
import { INBOUND_PATH, STATUS_CALLBACK_PATH } from './twilio-callbacks';
import { type TwilioParams, TwilioWebhooks } from './twilio-webhooks.service';

const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

@ApiExcludeController()
@Controller('webhooks/twilio')
export class TwilioWebhooksController {
  constructor(private readonly webhooks: TwilioWebhooks) {}

  @Post('status')
  @HttpCode(200)
  @ApiConsumes('application/x-www-form-urlencoded')
  async status(@Req() request: FastifyRequest, @Body() body: unknown, @Headers('x-twilio-signature') signature?: string) {
    const { query, params } = this.verified(request, STATUS_CALLBACK_PATH, body, signature);
    return this.webhooks.status(query, params);
  }

  @Post('inbound')
  @HttpCode(200)
  @ApiConsumes('application/x-www-form-urlencoded')
  async inbound(
    @Req() request: FastifyRequest,
    @Body() body: unknown,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Headers('x-twilio-signature') signature?: string,
  ) {
    const { params } = this.verified(request, INBOUND_PATH, body, signature);
    await this.webhooks.inbound(params);
    // Empty TwiML: Herald sends no reply (Twilio's own opt-out confirmation still goes out).
    void reply.header('content-type', 'text/xml; charset=utf-8');
    return EMPTY_TWIML;
  }

  private verified(request: FastifyRequest, path: string, body: unknown, signature: string | undefined): { query: string; params: TwilioParams } {
    if (!this.webhooks.configured) throw new NotFoundError('Twilio is not configured on this Herald (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)');
    const params = formParams(body);
    const queryStart = request.url.indexOf('?');
    const query = queryStart === -1 ? '' : request.url.slice(queryStart + 1);
    if (!params || !this.webhooks.verify(path, query, signature, params)) {
      throw new UnauthorizedError('Missing or invalid X-Twilio-Signature');
    }
    return { query, params };
  }
}

/** Twilio posts form fields: strings, or arrays of strings for repeated names. */
function formParams(body: unknown): TwilioParams | undefined {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) return undefined;
  for (const value of Object.values(body)) {
    if (typeof value !== 'string' && !(Array.isArray(value) && value.every((v) => typeof v === 'string'))) return undefined;
  }
  return body as TwilioParams;
}
