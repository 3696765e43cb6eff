import { Controller, Get, Param, Query, UseGuards } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { AdminGuard } from '../http/admin.guard';
import { workspaceFrom } from '../http/workspace.param';
import { WorkspacesService } from '../workspaces/workspaces.service';
import { GetUserHistoryQuery } from './queries/get-user-history.query';
import type { UserHistory } from './queries/get-user-history.handler';

@ApiTags('audit')
@ApiBearerAuth()
@UseGuards(AdminGuard)
@Controller('api/users')
export class AuditController {
  constructor(
    private readonly queries: QueryBus,
    private readonly workspaces: WorkspacesService,
  ) {}

  @Get(':userId/events')
  @ApiOperation({ summary: "A user's whole history in log order; an anonymousId that was merged resolves to its user" })
  @ApiQuery({ name: 'workspace', required: false, description: 'Defaults to `default`' })
  async events(@Param('userId') userId: string, @Query('workspace') workspace?: string): Promise<UserHistory> {
    return this.queries.execute(new GetUserHistoryQuery(workspaceFrom(this.workspaces, workspace), userId));
  }
}
