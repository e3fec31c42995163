export { Prisma, PrismaClient, TaskStatus, StepStatus, LlmCallOutcome, BudgetScope, BudgetPeriod, ReservationState, BudgetAlertState } from './generated/prisma/client';
export type { Tenant, ApiKey, Task, Step, LlmCall, AuditEvent, AuditChain, Budget, SpendReservation, BudgetAlert, BudgetPendingSettlement } from './generated/prisma/client';
export * from './prisma.service';
export type { StatementDurations } from './statement-timing';
export * from './persistence.module';
export * from './audit-writer';
export * from './audit-content';
export * from './status-mapping';
export * from './migration-runner';
export * from './database-bootstrap';
export * from './spend/clock';
export * from './spend/budget-window';
export * from './spend/spend-ledger';
export * from './spend/budget-denial';
export * from './spend/budget-balances';

export * from './database-unavailable';
export * from './sql-statements';
export * from './call-grouper';
