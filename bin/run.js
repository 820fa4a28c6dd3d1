#!/usr/bin/env node
// Entry point of the `cbp` binary: oclif finds the compiled commands through package.json's "oclif" section.
const {execute} = require('@oclif/core');
execute({dir: __dirname}).catch((error) => {
  // oclif has already printed the message; keep the exit status it chose.
  process.exitCode = error && typeof error.oclif === 'object' && error.oclif.exit !== undefined ? error.oclif.exit : 1;
});
