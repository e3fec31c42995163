import type { PipeTransform } from '@nestjs/common';
import type { z } from 'zod';
import { Problem } from './problem';

/** Validates a body, query or param against a contracts schema; failures list every field. */
export class ZodValidationPipe<S extends z.ZodType> implements PipeTransform<unknown, z.infer<S>> {
  constructor(
    private readonly schema: S,
    private readonly location: 'body' | 'query' | 'path' = 'body',
  ) {}

  transform(value: unknown): z.infer<S> {
    if (this.location === 'body' && (value === undefined || value === null)) {
      throw Problem.validation([{ field: '(body)', message: 'a JSON body is required' }]);
    }
    const parsed = this.schema.safeParse(value);
    if (parsed.success) return parsed.data;
    throw Problem.validation(
      parsed.error.issues.flatMap((issue) => {
        const base = issue.path.join('.');
        if (issue.code === 'unrecognized_keys') {
          return issue.keys.map((key) => ({ field: base ? `${base}.${key}` : key, message: 'is not a known field' }));
        }
        return [{ field: base || `(${this.location})`, message: issue.message }];
      }),
    );
  }
}
