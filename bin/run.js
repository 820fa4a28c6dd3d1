#!/usr/bin/env node
// Entry point of the `cbp` binary: oclif finds the compiled commands through package.json's "oclif" section.

// With CBP_HUGEPAGES=1, `cbp train` on Linux runs in a child Node process whose glibc backs large allocations with
// transparent huge pages (GLIBC_TUNABLES=glibc.malloc.hugetlb=1; glibc reads it only at start-up): ONNX Runtime's
// CPU arena takes far fewer page faults. Off by default: on a virtual machine that hands freed memory back to its
// host, every huge page is memory the host must back anew, and the first ResNet-18 step took 15–17.6 s with it
// against 6.0–9.7 s without (sys time 10.6–12.4 s against 1.2–4.7 s; docs/BENCHMARKS.md).
const wrap =
  process.platform === 'linux' &&
  process.argv[2] === 'train' &&
  process.env.CBP_HUGEPAGES === '1' &&
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
