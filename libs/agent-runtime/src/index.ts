export * from './agent-config';
export * from './agent-definition';
export * from './step-handler';
export * from './run-agent';
export * from './model-json';
