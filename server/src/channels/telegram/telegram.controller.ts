import { Body, Controller, Headers, HttpCode, HttpException, Inject, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { GrammyError } from 'grammy';
import { timingSafeEqual } from 'node:crypto';
import { AdminGuard } from '../../http/admin.guard';
import { BadRequestError, ConflictError, NotFoundError, UnauthorizedError } from '../../http/http-errors';
import { workspaceFrom } from '../../http/workspace.param';
import { WorkspacesService } from '../../workspaces/workspaces.service';
import { TelegramLinks, TelegramUnavailableError } from './telegram-links.service';

export const TELEGRAM_HTTP_SETTINGS = Symbol('TelegramHttpSettings');

export interface TelegramHttpSettings {
  /** TELEGRAM_WEBHOOK_SECRET: Telegram sends it back in X-Telegram-Bot-Api-Secret-Token. */
  webhookSecret?: string;
  /** PUBLIC_URL: where Telegram reaches this Herald. */
  publicUrl: string;
}

@ApiTags('telegram')
@Controller()
export class TelegramController {
  constructor(
    private readonly links: TelegramLinks,
    @Inject(TELEGRAM_HTTP_SETTINGS) private readonly settings: TelegramHttpSettings,
    private readonly workspaces: WorkspacesService,
  ) {}

  @Post('api/telegram/link')
  @UseGuards(AdminGuard)
  @ApiBearerAuth()
  @ApiQuery({ name: 'workspace', required: false })
  @ApiOperation({ summary: 'A single-use deep link (valid 7 days) that binds the Telegram chat opening it to the user: body { userId }' })
  async link(@Body() body: unknown, @Query('workspace') workspace?: string) {
    const ws = workspaceFrom(this.workspaces, workspace);
    const userId = (body as { userId?: unknown } | undefined)?.userId;
    if (typeof userId !== 'string' || userId.length === 0 || userId.length > 512) {
      throw new BadRequestError('userId must be a non-empty string (at most 512 characters)', 'userId');
    }
    try {
      return await this.links.issue(ws, userId);
    } catch (error) {
      if (error instanceof TelegramUnavailableError) throw new HttpException(error.message, 502);
      throw error;
    }
  }

  @Post('api/telegram/webhook')
  @HttpCode(200)
  @UseGuards(AdminGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: "Points the bot's webhook at PUBLIC_URL/webhooks/telegram with TELEGRAM_WEBHOOK_SECRET (PUBLIC_URL must be https)" })
  async setWebhook() {
    const secret = this.settings.webhookSecret;
    if (!secret) throw new ConflictError('Set TELEGRAM_WEBHOOK_SECRET first: the webhook is refused without it');
    const url = `${this.settings.publicUrl}/webhooks/telegram`;
    try {
      await this.links.setWebhook(url, secret);
    } catch (error) {
      if (error instanceof GrammyError) throw new BadRequestError(`Telegram refused the webhook ${url}: ${error.description}`);
      throw new HttpException(`Telegram could not be reached: ${(error as Error).message}`, 502);
    }
    return { url };
  }

  @Post('webhooks/telegram')
  @HttpCode(200)
  @ApiHeader({ name: 'X-Telegram-Bot-Api-Secret-Token', required: true })
  @ApiOperation({ summary: 'Bot API updates (webhook). `/start <token>` binds the chat; other updates are ignored. 404 unless TELEGRAM_WEBHOOK_SECRET is set' })
  async webhook(@Body() body: unknown, @Headers('x-telegram-bot-api-secret-token') given?: string) {
    const expected = this.settings.webhookSecret;
    // Without a secret anyone could post fake updates and bind chats: the endpoint does not exist then.
    if (!expected) throw new NotFoundError('The Telegram webhook is off: set TELEGRAM_WEBHOOK_SECRET');
    if (!given || !sameSecret(given, expected)) throw new UnauthorizedError('X-Telegram-Bot-Api-Secret-Token is missing or wrong');
    if (typeof body !== 'object' || body === null || !Number.isSafeInteger((body as { update_id?: unknown }).update_id)) {
      throw new BadRequestError('Not a Telegram update: update_id is missing', 'update_id');
    }
    const result = await this.links.handleUpdate(body);
    return { ok: true, outcome: result.outcome };
  }
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
