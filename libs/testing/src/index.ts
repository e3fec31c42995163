// Helpers for tests only: real infrastructure on private ports, never mocks of it.
export * from './repo-root';
export * from './test-database';
export * from './service-process';
export * from './llm-simulator';
export * from './nats-server';
export * from './otlp-receiver';

export * from './private-postgres';
export * from './atelier-stack';
export * from './scripted-step';
