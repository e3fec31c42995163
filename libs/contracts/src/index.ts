export * from './topology';
export * from './steps';
export * from './messages';
