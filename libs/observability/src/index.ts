export * from './secret-redaction';
export * from './logger';
export * from './trace-context';
export * from './metrics';
export * from './readiness-check';
export * from './observability.module';
export * from './nest-service-runner';
export * from './public-route';
