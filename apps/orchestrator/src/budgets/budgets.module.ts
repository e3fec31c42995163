import { type DynamicModule, Module } from '@nestjs/common';
import { PrismaService, SpendLedger } from '@atelier/persistence';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { AlertWebhookSender } from './alert-webhook-sender';
import { BudgetUtilizationMetric } from './budget-utilization.metric';
import { BudgetsController } from './budgets.controller';
import { BudgetsService } from './budgets.service';
import { GlobalBudgetSeeder } from './default-budgets';
import { ReservationSweeper } from './reservation-sweeper';
import { ResponseCachePurger } from './response-cache-purger';
import { UsageController } from './usage.controller';
import { UsageService } from './usage.service';

/** Spend caps and cost control: the budgets and usage API, the reservation sweeper, alerts, housekeeping. */
@Module({})
export class BudgetsModule {
  static forRoot(config: OrchestratorConfig): DynamicModule {
    return {
      module: BudgetsModule,
      controllers: [BudgetsController, UsageController],
      providers: [
        { provide: ORCHESTRATOR_CONFIG, useValue: config },
        { provide: SpendLedger, useFactory: (prisma: PrismaService) => new SpendLedger(prisma.pool), inject: [PrismaService] },
        BudgetsService,
        UsageService,
        GlobalBudgetSeeder,
        ReservationSweeper,
        AlertWebhookSender,
        ResponseCachePurger,
        BudgetUtilizationMetric,
      ],
    };
  }
}
