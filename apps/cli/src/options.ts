import { UsageError } from './cli-errors';
import type { OptionValues } from './command';

// Small readers for option values: a malformed one is a usage error naming the option.

export function stringOption(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function intOption(values: OptionValues, name: string, min = 1): number | undefined {
  const value = stringOption(values, name);
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value) || Number(value) < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${value}"`);
  return Number(value);
}

export function flag(values: OptionValues, name: string): boolean {
  return values[name] === true;
}
