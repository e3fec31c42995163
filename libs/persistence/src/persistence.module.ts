import { type DynamicModule, Global, Module } from '@nestjs/common';
import { type PrismaOptions, PrismaService } from './prisma.service';

@Global()
@Module({})
export class PersistenceModule {
  static forRoot(options: PrismaOptions): DynamicModule {
    return {
      module: PersistenceModule,
      providers: [{ provide: PrismaService, useFactory: () => new PrismaService(options) }],
      exports: [PrismaService],
    };
  }
}
