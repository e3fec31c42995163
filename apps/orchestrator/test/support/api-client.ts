// A small client for end-to-end specs: JSON calls with a Bearer key, and waiting for a
// task to leave queued/running.

export interface ApiClient {
  call(path: string, init?: RequestInit & { key?: string }): Promise<Response>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are asserted field by field
  json(path: string, init?: RequestInit & { key?: string }): Promise<any>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
  waitForTask(id: string, key: string, timeoutMs?: number): Promise<any>;
  mintKey(adminKey: string, tenant: string, scopes: string[]): Promise<string>;
}

export function apiClient(baseUrl: string): ApiClient {
  const call = (path: string, init: RequestInit & { key?: string } = {}) =>
    fetch(`${baseUrl}${path}`, {
      ...init,
      headers: {
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...(init.key ? { authorization: `Bearer ${init.key}` } : {}),
        ...(init.headers as Record<string, string>),
      },
    });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are asserted field by field
  const json = async (path: string, init?: RequestInit & { key?: string }): Promise<any> => (await call(path, init)).json();
  return {
    call,
    json,
    async waitForTask(id, key, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const task = await json(`/v1/tasks/${id}`, { key });
        if (!['queued', 'running'].includes(task.status) || Date.now() > deadline) return task;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async mintKey(adminKey, tenant, scopes) {
      const response = await call('/v1/api-keys', { method: 'POST', key: adminKey, body: JSON.stringify({ tenant, scopes }) });
      if (response.status !== 201) throw new Error(`minting a key for ${tenant} answered ${response.status}`);
      return ((await response.json()) as { key: string }).key;
    },
  };
}
