import { Injectable } from '@nestjs/common';
import type { ListTasksQuery } from '@atelier/contracts';
import { Prisma, PrismaService, taskStatusFromApi } from '@atelier/persistence';
import { type Caller, isAdmin } from '../auth/caller';
import { decodeCursor, encodeCursor } from '../http/keyset-cursor';
import { Problem } from '../http/problem';
import { toTaskView, type TaskView } from './task-view';

@Injectable()
export class TaskQueriesService {
  constructor(private readonly prisma: PrismaService) {}

  /** Another tenant's task is indistinguishable from a missing one: 404 either way. */
  async get(caller: Caller, id: string): Promise<TaskView> {
    const task = await this.prisma.task.findFirst({
      where: { id, ...(isAdmin(caller) ? {} : { tenantId: caller.tenantId }) },
      include: { tenant: true, steps: { orderBy: [{ queuedAt: 'asc' }, { key: 'asc' }] } },
    });
    if (!task) throw Problem.notFound(`No task ${id}.`);
    const costs = await this.prisma.llmCall.groupBy({ by: ['stepId'], where: { taskId: id }, _sum: { costUsd: true } });
    const costByStep = new Map(costs.map((row) => [row.stepId, row._sum.costUsd ?? new Prisma.Decimal(0)]));
    return toTaskView(task, task.tenant.name, task.steps, costByStep);
  }

  /** Newest first, keyset pagination on (createdAt, id) so pages stay stable while tasks arrive. */
  async list(caller: Caller, query: ListTasksQuery): Promise<{ items: TaskView[]; nextCursor: string | null }> {
    const cursor = query.cursor ? decodeCursor(query.cursor) : undefined;
    const rows = await this.prisma.task.findMany({
      where: {
        ...(isAdmin(caller) ? {} : { tenantId: caller.tenantId }),
        ...(query.status ? { status: taskStatusFromApi(query.status) } : {}),
        ...(cursor
          ? { OR: [{ createdAt: { lt: new Date(cursor.at) } }, { createdAt: new Date(cursor.at), id: { lt: cursor.id } }] }
          : {}),
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: query.limit + 1,
      include: { tenant: true, steps: { orderBy: [{ queuedAt: 'asc' }, { key: 'asc' }] } },
    });
    const page = rows.slice(0, query.limit);
    const costs = page.length
      ? await this.prisma.llmCall.groupBy({ by: ['stepId'], where: { taskId: { in: page.map((t) => t.id) } }, _sum: { costUsd: true } })
      : [];
    const costByStep = new Map(costs.map((row) => [row.stepId, row._sum.costUsd ?? new Prisma.Decimal(0)]));
    const last = page.at(-1);
    return {
      items: page.map((task) => toTaskView(task, task.tenant.name, task.steps, costByStep)),
      nextCursor: rows.length > query.limit && last ? encodeCursor({ at: last.createdAt.toISOString(), id: last.id }) : null,
    };
  }
}
