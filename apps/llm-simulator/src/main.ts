import { ConfigError } from '@atelier/contracts';
import { loadSimulatorConfig, type SimulatorConfig } from './config';
import { createSimulatorServer } from './simulator-server';

// Plain JSON lines on stdout rather than the observability logger: the simulator stands
// in for an external API, must start in milliseconds, and logs almost nothing. It never
// logs requests, so an API key cannot leak through it.
const log = (level: 'info' | 'error', msg: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ level, time: new Date().toISOString(), service: 'llm-simulator', msg, ...fields })}\n`);

function configOrExit(): SimulatorConfig | undefined {
  try {
    return loadSimulatorConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
    return undefined;
  }
}

async function main(): Promise<void> {
  const config = configOrExit();
  if (!config) return;
  const { port, host, ...behaviour } = config;
  const server = createSimulatorServer({ ...behaviour, onUnexpectedError: (error) => log('error', 'unexpected error', { error: String(error) }) });
  const { url } = await server.listen(port, host);
  // Start scripts and libs/testing read the bound URL from this line (PORT=0 picks a free port).
  log('info', 'listening', { url, fault: behaviour.fault ?? 'none', latencyMs: behaviour.latencyMs });

  const stop = async (signal: NodeJS.Signals) => {
    await server.close();
    log('info', 'stopped', { signal });
  };
  process.once('SIGTERM', (signal) => void stop(signal));
  process.once('SIGINT', (signal) => void stop(signal));
}

main().catch((error: unknown) => {
  log('error', 'failed to start', { error: String(error) });
  process.exitCode = 1;
});
