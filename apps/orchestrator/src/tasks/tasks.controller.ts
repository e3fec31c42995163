import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiHeader, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ListTasksQuery, SubmitTaskRequest, TaskIdParam } from '@atelier/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { CurrentCaller, RequireScope } from '../auth/auth.decorators';
import type { Caller } from '../auth/caller';
import { Problem } from '../http/problem';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { TaskCancellationService } from './task-cancellation.service';
import { TaskEventStreamService } from './task-event-stream.service';
import { TaskQueriesService } from './task-queries.service';
import { TaskSubmissionService } from './task-submission.service';
import { TASK_RESULT_SCHEMA } from './task-view';

const IdempotencyKey = z.string().regex(/^[\x21-\x7e]{1,200}$/, 'must be 1-200 printable ASCII characters').optional();
/** SSE `Last-Event-ID`: the stream sequence of the last event the client saw. */
const LastEventId = z.string().regex(/^\d{1,15}$/, 'must be the id of an event this stream sent').transform(Number).optional();

@ApiTags('tasks')
@ApiBearerAuth()
@Controller('v1/tasks')
export class TasksController {
  constructor(
    private readonly submission: TaskSubmissionService,
    private readonly queries: TaskQueriesService,
    private readonly cancellation: TaskCancellationService,
    private readonly eventStreams: TaskEventStreamService,
  ) {}

  @Post()
  @HttpCode(202)
  @RequireScope('tasks:write')
  @ApiOperation({ summary: 'Submit a task; it runs asynchronously. Same Idempotency-Key and body → the same task.' })
  @ApiBody({ schema: z.toJSONSchema(SubmitTaskRequest, { io: 'input' }) as object })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiResponse({ status: 202, description: '{id, status, links}' })
  async submit(
    @Body(new ZodValidationPipe(SubmitTaskRequest)) body: z.infer<typeof SubmitTaskRequest>, // not the schema's own name: decorator metadata would reflect the zod object
    @Headers('idempotency-key') idempotencyKeyHeader: string | undefined,
    @CurrentCaller() caller: Caller,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const key = IdempotencyKey.safeParse(idempotencyKeyHeader);
    if (!key.success) throw Problem.validation([{ field: 'Idempotency-Key', message: key.error.issues[0]?.message ?? 'is invalid' }]);
    const idempotencyKey = key.data;
    const task = await this.submission.submit(caller, body, { requestId: request.id, trace: request.trace, idempotencyKey });
    const self = `/v1/tasks/${task.id}`;
    void reply.header('location', self);
    return { id: task.id, status: task.status, links: { self, events: `${self}/events`, audit: `${self}/audit` } };
  }

  @Get(':id')
  @RequireScope('tasks:read')
  @ApiOperation({ summary: 'A task with its steps, cost and, once completed, result.document (markdown); a partial completion says so in result.partial and result.failedSteps.' })
  @ApiResponse({ status: 200, description: 'The task.', schema: { type: 'object', properties: { result: TASK_RESULT_SCHEMA } } })
  get(@Param('id') id: string, @CurrentCaller() caller: Caller) {
    if (!TaskIdParam.safeParse(id).success) throw Problem.notFound(`No task ${id}.`);
    return this.queries.get(caller, id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @RequireScope('tasks:write')
  @ApiOperation({ summary: 'Cancel a task: queued steps are cancelled, model calls in flight aborted. Cancelling a cancelled task changes nothing; a finished one is 409.' })
  @ApiResponse({ status: 200, description: 'The task, now cancelled, with its partial result.' })
  cancel(@Param('id') id: string, @CurrentCaller() caller: Caller, @Req() request: FastifyRequest) {
    if (!TaskIdParam.safeParse(id).success) throw Problem.notFound(`No task ${id}.`);
    return this.cancellation.cancel(caller, id, { requestId: request.id, traceId: request.trace.traceId });
  }

  @Get(':id/events')
  @RequireScope('tasks:read')
  @ApiOperation({ summary: 'Progress as Server-Sent Events (step.started, step.completed, step.failed, task.finished); resume with Last-Event-ID.' })
  @ApiHeader({ name: 'Last-Event-ID', required: false })
  @ApiResponse({ status: 200, description: 'text/event-stream; ends after task.finished' })
  async events(
    @Param('id') id: string,
    @Headers('last-event-id') lastEventIdHeader: string | undefined,
    @CurrentCaller() caller: Caller,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    if (!TaskIdParam.safeParse(id).success) throw Problem.notFound(`No task ${id}.`);
    const lastEventId = LastEventId.safeParse(lastEventIdHeader);
    if (!lastEventId.success) throw Problem.validation([{ field: 'Last-Event-ID', message: lastEventId.error.issues[0]?.message ?? 'is invalid' }]);
    await this.queries.get(caller, id); // 404 for another tenant's task, before any byte is sent
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    await this.eventStreams.stream(id, lastEventId.data, request.raw, reply.raw);
  }

  @Get()
  @RequireScope('tasks:read')
  @ApiOperation({ summary: "The caller's tasks, newest first, with cursor pagination." })
  @ApiQuery({ name: 'status', required: false })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  list(@Query(new ZodValidationPipe(ListTasksQuery, 'query')) query: z.infer<typeof ListTasksQuery>, @CurrentCaller() caller: Caller) {
    return this.queries.list(caller, query);
  }
}
