import { AuditSeqParam, ExportAuditQuery, ListAuditQuery, VerifyAuditQuery } from './audit-api';

const fieldsOf = (result: { success: boolean; error?: { issues: { path: PropertyKey[] }[] } }) =>
  result.error?.issues.map((issue) => issue.path.join('.')) ?? [];

describe('audit API queries', () => {
  it('reads list filters from query strings, with defaults', () => {
    expect(ListAuditQuery.parse({ action: 'llm.call', actor: 'service:research-agent', from: '2026-11-23T10:00:00Z', limit: '20' })).toEqual({
      action: 'llm.call',
      actor: 'service:research-agent',
      from: '2026-11-23T10:00:00Z',
      limit: 20,
    });
    expect(ListAuditQuery.parse({}).limit).toBe(50);
  });

  it.each([
    [{ action: 'task.exploded' }, 'action'],
    [{ actor: 'root' }, 'actor'],
    [{ task: 'not-a-uuid' }, 'task'],
    [{ from: '23/11/2026' }, 'from'],
    [{ from: '2026-11-23T10:00:00Z', to: '2026-11-23T09:00:00Z' }, 'to'],
    [{ limit: '501' }, 'limit'],
    [{ acton: 'llm.call' }, ''],
  ])('refuses the list query %j naming %s', (query, field) => {
    expect(fieldsOf(ListAuditQuery.safeParse(query))).toContain(field);
  });

  it('takes chain positions for export and verify, in order, and a head only without `to`', () => {
    expect(ExportAuditQuery.parse({ from: '3', to: '9' })).toEqual({ from: 3, to: 9, format: 'ndjson' });
    expect(fieldsOf(ExportAuditQuery.safeParse({ from: '9', to: '3' }))).toContain('to');
    expect(fieldsOf(ExportAuditQuery.safeParse({ format: 'xml' }))).toContain('format');
    const hash = 'ab'.repeat(32);
    expect(VerifyAuditQuery.parse({ head: `12:${hash}` })).toEqual({ head: `12:${hash}` });
    expect(fieldsOf(VerifyAuditQuery.safeParse({ head: 'nope' }))).toContain('head');
    expect(fieldsOf(VerifyAuditQuery.safeParse({ head: hash, to: '5' }))).toContain('to');
  });

  it('accepts only plain positive integers as an event seq', () => {
    expect(AuditSeqParam.parse('42')).toBe(42);
    for (const bad of ['0', '-1', '1e3', '0x10', '4.2', '12345678901234567']) expect(AuditSeqParam.safeParse(bad).success).toBe(false);
  });
});
