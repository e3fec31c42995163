import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { withLlmSpan } from './gen-ai-spans';
import { startTracing, type Tracing } from './tracing';

describe(withLlmSpan.name, () => {
  let exporter: InMemorySpanExporter;
  let tracing: Tracing;

  beforeEach(() => {
    exporter = new InMemorySpanExporter();
    tracing = startTracing({ service: 'writer-agent', exporter });
  });

  afterEach(() => tracing.shutdown());

  it('records a model call with the GenAI semantic conventions, cache tokens included in the input', async () => {
    const reply = { text: 'draft', model: 'claude-sonnet-5-5-20261001', id: 'msg_01', stopReason: 'end_turn', usage: { inputTokens: 120, outputTokens: 800, cacheReadInputTokens: 2000, cacheCreationInputTokens: 30 } };
    const value = await withLlmSpan(
      { model: 'claude-sonnet-5-5', maxTokens: 4096, attributes: { 'atelier.step.kind': 'writer.draft', 'atelier.llm.attempt': 1 } },
      async () => reply,
      { response: (r) => ({ model: r.model, usage: r.usage, responseId: r.id, finishReason: r.stopReason }) },
    );
    expect(value).toBe(reply);
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe('chat claude-sonnet-5-5');
    expect(span?.kind).toBe(SpanKind.CLIENT);
    expect(span?.attributes).toEqual({
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'claude-sonnet-5-5',
      'gen_ai.request.max_tokens': 4096,
      'gen_ai.response.model': 'claude-sonnet-5-5-20261001',
      'gen_ai.response.id': 'msg_01',
      'gen_ai.response.finish_reasons': ['end_turn'],
      'gen_ai.usage.input_tokens': 2150,
      'gen_ai.usage.output_tokens': 800,
      'gen_ai.usage.cache_read.input_tokens': 2000,
      'gen_ai.usage.cache_creation.input_tokens': 30,
      'atelier.step.kind': 'writer.draft',
      'atelier.llm.attempt': 1,
    });
    expect(span?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('records a failed call with error.type from the classification', async () => {
    const overloaded = Object.assign(new Error('529 {"type":"error","error":{"type":"overloaded_error"}}'), { type: 'overloaded_error' });
    await expect(
      withLlmSpan({ model: 'claude-sonnet-5-5' }, () => Promise.reject(overloaded), {
        response: () => {
          throw new Error('not called on failure');
        },
        errorType: (error) => (error as { type?: string }).type,
      }),
    ).rejects.toBe(overloaded);
    const [span] = exporter.getFinishedSpans();
    expect(span?.attributes).toMatchObject({ 'gen_ai.request.model': 'claude-sonnet-5-5', 'error.type': 'overloaded_error' });
    expect(span?.attributes).not.toHaveProperty('gen_ai.usage.input_tokens');
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
  });
});
