import Anthropic, { InternalServerError } from '@anthropic-ai/sdk';
import { startLlmSimulator } from '@atelier/testing';

// The built simulator as its own OS process, the way npm start and the end-to-end tests run it.

describe(startLlmSimulator.name, () => {
  it('starts the built simulator on a free port with its env, and stops it on SIGTERM', async () => {
    const simulator = await startLlmSimulator({ SIM_FAULT: '500', SIM_FAULT_RATE: '0.5' });
    try {
      expect(simulator.url).toBe(`http://127.0.0.1:${simulator.port}`);
      const client = new Anthropic({ apiKey: 'test-key', baseURL: simulator.url, maxRetries: 0 });
      const params = { model: 'claude-haiku-5-5', max_tokens: 64, messages: [{ role: 'user' as const, content: 'Hello' }] };
      await expect(client.messages.create(params)).resolves.toMatchObject({ type: 'message' });
      await expect(client.messages.create(params)).rejects.toBeInstanceOf(InternalServerError);
    } finally {
      await simulator.stop();
    }
    await expect(fetch(`${simulator.url}/health`)).rejects.toThrow();
  });

  it('fails fast when the environment is bad, naming the variable', async () => {
    await expect(startLlmSimulator({ SIM_FAULT_RATE: 'often' })).rejects.toThrow(/config: SIM_FAULT_RATE must be a number/);
  });
});
