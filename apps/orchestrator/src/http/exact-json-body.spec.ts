import { inexactNumbers } from './exact-json-body';

describe(inexactNumbers.name, () => {
  it('finds the literals a double would change, naming their fields as validation does', () => {
    expect(inexactNumbers('{"budgetUsd": "1234567.123456789012", "deadlineSeconds": 60}')).toEqual([]);
    const text = '{"budgetUsd": 1234567.123456789012, "input": {"goal": "x 12345678901234567890"}, "metadata": {"n": 12345678901234567890, "ok": 0.1}, "list": [1, 2.50, 3e400]}';
    expect(inexactNumbers(text)).toEqual([
      { field: 'budgetUsd', literal: '1234567.123456789012' },
      { field: 'metadata.n', literal: '12345678901234567890' },
      { field: 'list.2', literal: '3e400' },
    ]);
  });

  it('keeps literals a double carries exactly, however they are written', () => {
    expect(inexactNumbers('[0.1, 2.5, 1e-7, 100000000000000000000, -0, 1234567.1234567, {"k\\"ey": 9007199254740992}]')).toEqual([]);
  });

  it('names nested arrays and keys with escapes', () => {
    expect(inexactNumbers('{"a\\"b": [[0, 9007199254740993]]}')).toEqual([{ field: 'a"b.0.1', literal: '9007199254740993' }]);
  });
});
