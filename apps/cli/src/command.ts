import type { ParseArgsConfig } from 'node:util';
import { ApiClient } from './api-client';
import type { CliIo } from './cli-io';

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface CommandContext {
  positionals: string[];
  values: OptionValues;
  io: CliIo;
  json: boolean;
  /** The API client from --api-url/--api-key or the environment (a usage error when no key is set). */
  api(): ApiClient;
}

export interface Command {
  group: 'tasks' | 'audit';
  name: string;
  summary: string;
  /** The synopsis and option list printed by --help. */
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  positionals: { min: number; max: number };
  run(context: CommandContext): Promise<number>;
}
