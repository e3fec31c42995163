export * from './topology';
export * from './steps';
export * from './messages';
export * from './audit';
export * from './audit-chain';
export * from './audit-api';
export * from './api';
export * from './config';
