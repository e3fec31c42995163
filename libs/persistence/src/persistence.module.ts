import { type DynamicModule, Global, Module } from '@nestjs/common';
import type { AuditCaptureMode } from '@atelier/contracts';
import { METRICS_CATALOG, type MetricsCatalog } from '@atelier/observability';
import { AUDIT_CAPTURE_MODE, AuditContentCapture } from './audit-content';
import { type PrismaOptions, PrismaService } from './prisma.service';

export interface PersistenceOptions extends PrismaOptions {
  /** AUDIT_CAPTURE: how much of prompts, outputs and goals audit events keep (default `redacted`). */
  auditCapture?: AuditCaptureMode;
}

@Global()
@Module({})
export class PersistenceModule {
  static forRoot(options: PersistenceOptions): DynamicModule {
    return {
      module: PersistenceModule,
      providers: [
        {
          provide: PrismaService,
          // Services time their statements (atelier_db_statement_duration_seconds); a module without metrics does not.
          useFactory: (metrics?: MetricsCatalog) => new PrismaService({ ...options, statementDurations: metrics?.dbStatementDuration }),
          inject: [{ token: METRICS_CATALOG, optional: true }],
        },
        { provide: AUDIT_CAPTURE_MODE, useValue: options.auditCapture ?? 'redacted' },
        AuditContentCapture,
      ],
      exports: [PrismaService, AuditContentCapture],
    };
  }
}
