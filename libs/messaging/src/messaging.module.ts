import { type DynamicModule, Global, Module } from '@nestjs/common';
import { JetStreamClient } from './jetstream-client.service';
import { MESSAGING_OPTIONS, type MessagingModuleOptions } from './messaging-options';

/** Thin Nest adapter: one connection per process, provisioned before the app starts. */
@Global()
@Module({})
export class MessagingModule {
  static forRoot(options: MessagingModuleOptions): DynamicModule {
    return {
      module: MessagingModule,
      global: true,
      providers: [{ provide: MESSAGING_OPTIONS, useValue: options }, JetStreamClient],
      exports: [JetStreamClient],
    };
  }
}
