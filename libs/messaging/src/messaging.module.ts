import { type DynamicModule, Global, Module } from '@nestjs/common';
import { jetStreamStreamsCheck } from '@atelier/observability';
import { JetStreamClient } from './jetstream-client.service';
import { MESSAGING_OPTIONS, type MessagingModuleOptions } from './messaging-options';

/** Readiness of the streams this process provisioned: each must still exist (a stream deleted by hand, storage lost). */
export const JETSTREAM_STREAMS_CHECK = Symbol('JETSTREAM_STREAMS_CHECK');

/**
 * Thin Nest adapter: one connection per process, provisioned before the app starts;
 * `JetStreamClient` (the connection) and `JETSTREAM_STREAMS_CHECK` are readiness checks.
 */
@Global()
@Module({})
export class MessagingModule {
  static forRoot(options: MessagingModuleOptions): DynamicModule {
    return {
      module: MessagingModule,
      global: true,
      providers: [
        { provide: MESSAGING_OPTIONS, useValue: options },
        JetStreamClient,
        {
          provide: JETSTREAM_STREAMS_CHECK,
          useFactory: (client: JetStreamClient) => jetStreamStreamsCheck(() => client.jsm, options.streams.map((spec) => spec.stream)),
          inject: [JetStreamClient],
        },
      ],
      exports: [JetStreamClient, JETSTREAM_STREAMS_CHECK],
    };
  }
}
