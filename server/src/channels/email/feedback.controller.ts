/**
 * Where complaint (ARF) and bounce (DSN) reports come in: the raw report as `message/rfc822` posted
 * to the workspace's signed intake URL. A missing or forged URL token is 401, a report Herald cannot
 * read or tie to one of its messages is 400, a message of another workspace or person is 404; none
 * of them stores anything. Admins get the intake URL from `GET /api/webhooks/email/feedback-url`.
 */
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiConsumes, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { AdminGuard } from '../../http/admin.guard';
import { BadRequestError, NotFoundError, UnauthorizedError } from '../../http/http-errors';
import { workspaceFrom } from '../../http/workspace.param';
import { WorkspacesService } from '../../workspaces/workspaces.service';
import { UnknownMessageError } from './feedback';
import { MalformedReportError } from './feedback-report';
import { EmailFeedback } from './feedback.service';

@ApiTags('email reports')
@Controller('api/webhooks/email')
export class EmailFeedbackController {
  constructor(
    @Inject(EmailFeedback) private readonly feedback: EmailFeedback,
    @Inject(WorkspacesService) private readonly workspaces: WorkspacesService,
  ) {}

  @Get('feedback-url')
  @UseGuards(AdminGuard)
  @ApiBearerAuth()
  @ApiQuery({ name: 'workspace', required: false })
  @ApiOperation({ summary: "The workspace's signed URL for complaint (ARF) and bounce (DSN) reports, to configure in the relay or feedback loop" })
  intakeUrl(@Query('workspace') workspace?: string) {
    return { url: this.feedback.intakeUrl(workspaceFrom(this.workspaces, workspace)) };
  }

  @Post('feedback/:token')
  @HttpCode(200)
  @ApiConsumes('message/rfc822')
  @ApiOperation({ summary: 'A raw ARF complaint (RFC 5965) or DSN (RFC 3464) about an email Herald sent: MessageComplained + Unsubscribed, or MessageBounced' })
  async report(@Param('token') token: string, @Body() body: unknown) {
    const workspace = this.feedback.workspaceOf(token);
    if (!workspace) throw new UnauthorizedError('The report intake URL is missing its signature or it is not valid; get it from GET /api/webhooks/email/feedback-url');
    if (!Buffer.isBuffer(body)) throw new BadRequestError('Send the raw report as the body with Content-Type: message/rfc822');
    try {
      return await this.feedback.record(workspace, body);
    } catch (error) {
      if (error instanceof MalformedReportError) throw new BadRequestError(error.message);
      if (error instanceof UnknownMessageError) throw new NotFoundError(error.message);
      throw error;
    }
  }
}
