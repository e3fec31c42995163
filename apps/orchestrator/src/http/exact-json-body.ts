import Decimal from 'decimal.js';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { RawServerDefault } from 'fastify';
import { Problem } from './problem';

/**
 * A JSON number reaches JavaScript as a double, which silently changes literals it cannot
 * carry (money like `1234567.123456789012` would arrive as `1234567.123456789`). Such a
 * literal has more than 15 significant digits or an exponent: only then is the body
 * scanned, and a literal whose value the double does not keep exactly is refused.
 */
const MAY_BE_INEXACT = /\d{16}|[\d.]{17}|\d[eE][+-]?\d/;

export interface InexactNumber {
  /** Where it is, as validation errors name fields: `budgetUsd`, `metadata.n`, `items.0`. */
  field: string;
  literal: string;
}

/** The number literals of a JSON text that a double does not carry exactly (the text is assumed to be JSON; parsing judges the rest). */
export function inexactNumbers(text: string): InexactNumber[] {
  const found: InexactNumber[] = [];
  const path: { key: string | number; inObject: boolean }[] = [];
  let expectingKey = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string;
    if (char === '"') {
      let end = i + 1;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      const top = path.at(-1);
      if (top?.inObject && expectingKey) {
        try {
          top.key = JSON.parse(text.slice(i, end + 1)) as string;
        } catch {
          return found; // not JSON: the parser's error says so
        }
      }
      i = end;
    } else if (char === '{' || char === '[') {
      path.push({ key: char === '[' ? 0 : '', inObject: char === '{' });
      expectingKey = char === '{';
    } else if (char === '}' || char === ']') {
      path.pop();
      expectingKey = false;
    } else if (char === ':') {
      expectingKey = false;
    } else if (char === ',') {
      const top = path.at(-1);
      if (top && !top.inObject) top.key = (top.key as number) + 1;
      expectingKey = top?.inObject ?? false;
    } else if (char === '-' || (char >= '0' && char <= '9')) {
      let end = i;
      while (end < text.length && /[\d.eE+-]/.test(text[end] as string)) end++;
      const literal = text.slice(i, end);
      if (!carriedExactly(literal)) found.push({ field: path.map((level) => String(level.key)).join('.'), literal });
      i = end - 1;
    }
  }
  return found;
}

function carriedExactly(literal: string): boolean {
  try {
    const value = Number(literal);
    return Number.isFinite(value) && new Decimal(literal).equals(new Decimal(String(value)));
  } catch {
    return true; // not a number literal: the parser's error says so
  }
}

/**
 * The JSON body parser: Fastify's own (same limit, same prototype-poisoning refusal)
 * behind a check that refuses, with a 400 naming each field, a number literal a double
 * would change.
 */
export function useExactJsonBody(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  app.useBodyParser<RawServerDefault>('application/json', { bodyLimit: fastify.initialConfig.bodyLimit }, (request, body, done) => {
    const text = body.toString('utf8');
    const inexact = MAY_BE_INEXACT.test(text) ? inexactNumbers(text) : [];
    if (inexact.length > 0) {
      done(Problem.validation(inexact.map(({ field, literal }) => ({ field: field || '(body)', message: `the JSON number ${literal} cannot be carried exactly: send it as a decimal string` }))), undefined);
      return;
    }
    parseJson(request, text, done);
  });
}
