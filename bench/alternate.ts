import {median} from './args';

/**
 * Idle time before each side of an alternating comparison of ONNX Runtime sessions in one process: a session's
 * worker threads keep spinning for a while after a run, and a session run straight after another shares the cores
 * with them (measured: both sides of ResNet-18 at batch 1 twice as slow as alone).
 */
export const GAP_MS = 150;

/** One side's time: GAP_MS idle for the other session's threads to park, then the median of `burst` runs. */
export async function sideTime(run: () => Promise<number>, burst: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, GAP_MS));
  const t: number[] = [];
  for (let k = 0; k < burst; k++) t.push(await run());
  return median(t);
}
