export * from './pricing-table';
export * from './pricing';
export * from './model-routing';
export * from './prompt';
export * from './response-cache-key';
export * from './anthropic-gateway';
export * from './keep-alive-fetch';
export * from './step-call-policies';
