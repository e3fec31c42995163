#!/usr/bin/env node
import { runCli } from './cli';

// `atelier`: the Atelier API from a terminal, and offline verification of audit exports.
void runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then((code) => {
  process.exitCode = code;
});
