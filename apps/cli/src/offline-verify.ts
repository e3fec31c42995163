import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { type ChainVerdict, ChainVerifier, type HeadAnchor, parseExportLine } from '@atelier/contracts';

/**
 * Re-computes the chain from an NDJSON export, line by line (constant memory, any size),
 * with the same code the server seals with. An unreadable line is a defect at the position
 * it should have held.
 */
export async function verifyExportFile(path: string, head?: HeadAnchor): Promise<ChainVerdict> {
  const verifier = new ChainVerifier(head ? { head } : {});
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
