export * from './pricing-table';
export * from './pricing';
export * from './model-routing';
export * from './anthropic-gateway';
