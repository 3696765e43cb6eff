import { Body, Controller, Get, Put, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiConsumes, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { AdminGuard } from '../http/admin.guard';
import { workspaceFrom } from '../http/workspace.param';
import { WorkspacesService } from '../workspaces/workspaces.service';
import { MessagingSettingsService } from './messaging-settings.service';

@ApiTags('settings')
@ApiBearerAuth()
@UseGuards(AdminGuard)
@Controller('api/settings/messaging')
export class MessagingSettingsController {
  constructor(
    private readonly settings: MessagingSettingsService,
    private readonly workspaces: WorkspacesService,
  ) {}

  @Put()
  @ApiOperation({ summary: 'Replace the frequency caps, quiet hours and timezone (JSON, or YAML with Content-Type: application/yaml)' })
  @ApiConsumes('application/json', 'application/yaml')
  @ApiQuery({ name: 'workspace', required: false })
  update(@Body() body: unknown, @Query('workspace') workspace?: string) {
    return this.settings.update(workspaceFrom(this.workspaces, workspace), body);
  }

  @Get()
  @ApiOperation({ summary: 'The rules in force; with none set there are no caps and no quiet hours' })
  async get(@Query('workspace') workspace?: string) {
    const { settings, version } = await this.settings.current(workspaceFrom(this.workspaces, workspace));
    return { settings, version };
  }
}
