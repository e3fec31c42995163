import { ApiError, UsageError } from './cli-errors';

export interface ApiSettings {
  baseUrl: string;
  apiKey: string;
}

type Query = Record<string, string | number | undefined>;

/** The Atelier REST API over fetch: JSON in, JSON out, problem+json turned into ApiError. */
export class ApiClient {
  constructor(private readonly settings: ApiSettings) {}

  async getJson<T>(path: string, query: Query = {}): Promise<T> {
    return (await (await this.request('GET', path, query)).json()) as T;
  }

  async postJson<T>(path: string, body: unknown, headers: Record<string, string> = {}): Promise<T> {
    return (await (await this.request('POST', path, {}, body, headers)).json()) as T;
  }

  /** The raw response, for streamed bodies (export). */
  stream(path: string, query: Query = {}): Promise<Response> {
    return this.request('GET', path, query);
  }

  private async request(method: string, path: string, query: Query, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const url = new URL(path, this.settings.baseUrl);
    for (const [name, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(name, String(value));
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.settings.apiKey}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new ApiError(`cannot reach the API at ${this.settings.baseUrl}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
    }
    if (response.ok) return response;
    throw await problemOf(response);
  }
}

async function problemOf(response: Response): Promise<ApiError> {
  const text = await response.text();
  try {
    const problem = JSON.parse(text) as { title?: string; detail?: string; errors?: { field: string; message: string }[] };
    return new ApiError(`${response.status} ${problem.title ?? response.statusText}: ${problem.detail ?? ''}`.trim(), response.status, problem.errors ?? []);
  } catch {
    return new ApiError(`${response.status} ${response.statusText}`, response.status);
  }
}

/** --api-url / ATELIER_API_URL and --api-key / ATELIER_API_KEY. */
export function apiSettings(options: { 'api-url'?: string; 'api-key'?: string }, env: NodeJS.ProcessEnv): ApiSettings {
  const baseUrl = options['api-url'] ?? env['ATELIER_API_URL'] ?? 'http://localhost:8080';
  try {
    if (!['http:', 'https:'].includes(new URL(baseUrl).protocol)) throw new Error();
  } catch {
    throw new UsageError(`the API URL "${baseUrl}" is not an http(s) URL (--api-url or ATELIER_API_URL)`);
  }
  const apiKey = options['api-key'] ?? env['ATELIER_API_KEY'];
  if (!apiKey) throw new UsageError('no API key: set ATELIER_API_KEY or pass --api-key');
  return { baseUrl, apiKey };
}
