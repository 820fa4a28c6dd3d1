#!/usr/bin/env node
// Entry point of the `cbp` binary: oclif finds the compiled commands through package.json's "oclif" section.

// `cbp train` on Linux runs in a child Node process whose glibc backs large allocations with transparent huge
// pages (GLIBC_TUNABLES=glibc.malloc.hugetlb=1; glibc reads it only at start-up). ONNX Runtime's CPU arena then
// takes far fewer page faults: the first training step of ResNet-18 at batch 32 took 6.4–7.5 s instead of 9.0–10.3 s
// and steady steps 3.45–3.66 s instead of 3.95 s (docs/BENCHMARKS.md). CBP_HUGEPAGES=0 turns this off.
const wrap =
  process.platform === 'linux' &&
  process.argv[2] === 'train' &&
  process.env.CBP_HUGEPAGES !== '0' &&
  !/glibc\.malloc\.hugetlb=/.test(process.env.GLIBC_TUNABLES ?? '') &&
  process.env.CBP_TRAIN_CHILD === undefined;

if (wrap) {
  const {spawn} = require('node:child_process');
  const tunables = [process.env.GLIBC_TUNABLES, 'glibc.malloc.hugetlb=1'].filter((t) => t !== undefined && t !== '').join(':');
  // The IPC channel tells the child when this process is gone, even by SIGKILL: it then stops at once.
  const child = spawn(process.execPath, [...process.execArgv, __filename, ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: {...process.env, GLIBC_TUNABLES: tunables, CBP_TRAIN_CHILD: '1'},
  });
  // A terminal's Ctrl-C reaches both processes; a signal sent to this process alone is passed on.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal !== null) {
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.removeAllListeners(s);
      process.kill(process.pid, signal);
    } else {
      process.exit(code ?? 1);
    }
  });
  child.on('error', (err) => {
    process.stderr.write(`cbp: cannot start Node.js again for training (${err.message}); run with CBP_HUGEPAGES=0\n`);
    process.exit(1);
  });
} else {
  if (process.env.CBP_TRAIN_CHILD === '1' && process.send !== undefined) {
    // The child of the wrapper above: it does not outlive it, and the channel must not keep it alive.
    process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
    process.channel?.unref();
  }
  const {execute} = require('@oclif/core');
  execute({dir: __dirname}).catch((error) => {
    // oclif has already printed the message; keep the exit status it chose.
    process.exitCode = error && typeof error.oclif === 'object' && error.oclif.exit !== undefined ? error.oclif.exit : 1;
  });
}
