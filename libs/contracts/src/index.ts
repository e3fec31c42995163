export * from './topology';
export * from './steps';
export * from './messages';
export * from './audit';
export * from './api';
export * from './config';
