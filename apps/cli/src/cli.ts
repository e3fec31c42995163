import { parseArgs } from 'node:util';
import { apiSettings, ApiClient } from './api-client';
import { ApiError, EXIT, UsageError } from './cli-errors';
import { type CliIo, printLine } from './cli-io';
import type { Command } from './command';
import { AUDIT_COMMANDS } from './commands/audit';
import { TASK_COMMANDS } from './commands/tasks';

const COMMANDS: Command[] = [...TASK_COMMANDS, ...AUDIT_COMMANDS];

const COMMON_OPTIONS = {
  'api-url': { type: 'string' },
  'api-key': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const COMMON_USAGE = `Common options:
  --api-url URL              the Atelier API (default $ATELIER_API_URL, else http://localhost:8080)
  --api-key KEY              an API key (default $ATELIER_API_KEY)
  --json                     machine-readable output (one JSON document per line)
  -h, --help                 this help`;

function mainUsage(): string {
  const lines = COMMANDS.map((command) => `  ${`${command.group} ${command.name}`.padEnd(16)} ${command.summary}`);
  return `Usage: atelier <tasks|audit> <command> [options]

Commands:
${lines.join('\n')}

${COMMON_USAGE}

Exit status: 0 success, 1 the API or a file failed, 2 bad command line,
3 a negative answer (the chain does not verify; a watched task did not complete).
Run "atelier <group> <command> --help" for a command's options.
`;
}

function commandUsage(command: Command): string {
  return `Usage: ${command.usage}\n\n${COMMON_USAGE}\n`;
}

/** Runs one command line; returns the exit status instead of exiting, so tests can call it. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [group, name, ...rest] = argv;
  if (group === undefined) {
    io.stderr.write(mainUsage());
    return EXIT.usage;
  }
  if (['-h', '--help', 'help'].includes(group)) {
    io.stdout.write(mainUsage());
    return EXIT.ok;
  }
  const command = COMMANDS.find((candidate) => candidate.group === group && candidate.name === name);
  try {
    if (!command) {
      if (COMMANDS.some((candidate) => candidate.group === group) && (name === undefined || name === '--help' || name === '-h')) {
        io.stdout.write(mainUsage());
        return name === undefined ? EXIT.usage : EXIT.ok;
      }
      throw new UsageError(`unknown command "${[group, name].filter(Boolean).join(' ')}"`);
    }
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({ args: rest, options: { ...COMMON_OPTIONS, ...command.options }, allowPositionals: true, strict: true });
    } catch (error) {
      // parseArgs names the option: unknown option, or a missing value.
      throw new UsageError((error as Error).message);
    }
    const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
    if (values['help']) {
      io.stdout.write(commandUsage(command));
      return EXIT.ok;
    }
    const { min, max } = command.positionals;
    if (parsed.positionals.length < min) throw new UsageError(`missing argument; usage: ${command.usage.split('\n')[0]}`);
    if (parsed.positionals.length > max) throw new UsageError(`unexpected argument "${parsed.positionals[max]}"`);
    let client: ApiClient | undefined;
    return await command.run({
      positionals: parsed.positionals,
      values,
      io,
      json: values['json'] === true,
      api: () => (client ??= new ApiClient(apiSettings(values, io.env))),
    });
  } catch (error) {
    return reportError(error, io, command);
  }
}

function reportError(error: unknown, io: CliIo, command: Command | undefined): number {
  if (error instanceof UsageError) {
    printLine(io.stderr, `atelier: ${error.message}`);
    printLine(io.stderr, `Run "atelier ${command ? `${command.group} ${command.name} ` : ''}--help" for usage.`);
    return EXIT.usage;
  }
  if (error instanceof ApiError) {
    printLine(io.stderr, `atelier: ${error.message}`);
    for (const fieldError of error.fieldErrors) printLine(io.stderr, `  ${fieldError.field}: ${fieldError.message}`);
    return EXIT.failed;
  }
  printLine(io.stderr, `atelier: ${(error as Error).message}`);
  return EXIT.failed;
}
