import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { type ChainVerdict, ChainVerifier, type ChainVerifierOptions, parseExportLine } from '@atelier/contracts';

/**
 * Re-computes the chain from an NDJSON export, line by line (constant memory, any size),
 * with the same code the server seals with. The export must start at position 1 from the
 * genesis hash unless `from` and `expectedPrevHash` anchor a later segment; an unreadable
 * line is a defect at the position it should have held.
 */
export async function verifyExportFile(path: string, options: Pick<ChainVerifierOptions, 'head' | 'from' | 'expectedPrevHash'> = {}): Promise<ChainVerdict> {
  const verifier = new ChainVerifier(options);
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber += 1;
    if (line.trim() === '') continue;
    const parsed = parseExportLine(line);
    if ('error' in parsed) {
      verifier.fail(verifier.nextPosition, `line ${lineNumber} is not a chain entry: ${parsed.error}`);
      break;
    }
    if (!verifier.add(parsed.entry)) break;
  }
  lines.close();
  return verifier.finish();
}
