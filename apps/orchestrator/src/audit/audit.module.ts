import { type DynamicModule, Module } from '@nestjs/common';
import { AuditController } from './audit.controller';
import { AuditExportService } from './audit-export.service';
import { AuditQueriesService } from './audit-queries.service';
import { AUDIT_SEALER_OPTIONS, AuditSealerLoop, type AuditSealerOptions } from './audit-sealer-loop';
import { TaskAuditController } from './task-audit.controller';

/** The audit trail's read side (API, export, verify) and its sealer. */
@Module({})
export class AuditModule {
  static forRoot(sealer: AuditSealerOptions): DynamicModule {
    return {
      module: AuditModule,
      controllers: [AuditController, TaskAuditController],
      providers: [{ provide: AUDIT_SEALER_OPTIONS, useValue: sealer }, AuditQueriesService, AuditExportService, AuditSealerLoop],
    };
  }
}
