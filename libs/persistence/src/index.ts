export { Prisma, PrismaClient, TaskStatus, StepStatus, LlmCallOutcome, BudgetScope, BudgetPeriod, ReservationState } from './generated/prisma/client';
export type { Tenant, ApiKey, Task, Step, LlmCall, AuditEvent, Budget, SpendReservation } from './generated/prisma/client';
export * from './prisma.service';
export * from './persistence.module';
export * from './audit-writer';
export * from './audit-content';
export * from './status-mapping';
export * from './migration-runner';
export * from './database-bootstrap';
