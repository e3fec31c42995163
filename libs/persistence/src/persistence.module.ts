import { type DynamicModule, Global, Module } from '@nestjs/common';
import type { AuditCaptureMode } from '@atelier/contracts';
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
        { provide: PrismaService, useFactory: () => new PrismaService(options) },
        { provide: AUDIT_CAPTURE_MODE, useValue: options.auditCapture ?? 'redacted' },
        AuditContentCapture,
      ],
      exports: [PrismaService, AuditContentCapture],
    };
  }
}
