import { type DynamicModule, Module } from '@nestjs/common';
import { type Clock, PrismaService, serviceClock, SpendLedger } from '@atelier/persistence';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { AlertWebhookSender } from './alert-webhook-sender';
import { BUDGET_CLOCK } from './budget-clock';
import { BudgetUtilizationMetric } from './budget-utilization.metric';
import { BudgetsController } from './budgets.controller';
import { BudgetsService } from './budgets.service';
import { GlobalBudgetSeeder } from './default-budgets';
import { SpendHousekeeper } from './spend-housekeeper';
import { ResponseCachePurger } from './response-cache-purger';
import { UsageController } from './usage.controller';
import { UsageService } from './usage.service';

/** Spend caps and cost control: the budgets and usage API, the ledger's housekeeping (sweep, fold, alerts), alert delivery. */
@Module({})
export class BudgetsModule {
  static forRoot(config: OrchestratorConfig): DynamicModule {
    return {
      module: BudgetsModule,
      controllers: [BudgetsController, UsageController],
      providers: [
        { provide: ORCHESTRATOR_CONFIG, useValue: config },
        { provide: BUDGET_CLOCK, useValue: serviceClock(config.ATELIER_TEST_CLOCK_FILE) },
        { provide: SpendLedger, useFactory: (prisma: PrismaService, clock: Clock) => new SpendLedger(prisma.pool, clock), inject: [PrismaService, BUDGET_CLOCK] },
        BudgetsService,
        UsageService,
        GlobalBudgetSeeder,
        SpendHousekeeper,
        AlertWebhookSender,
        ResponseCachePurger,
        BudgetUtilizationMetric,
      ],
    };
  }
}
