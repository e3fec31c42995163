export * from './llm-error-classification';
