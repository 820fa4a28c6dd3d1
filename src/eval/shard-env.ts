import {CbpError} from '../core/errors';

/** The variable a Kubernetes Indexed Job sets to its `completions` by hand: the pod sees its index, not the count. */
export const SHARD_COUNT_VAR = 'CBP_SHARD_COUNT';

export interface AutoShard {
  /** K/N, 1-based, as `--shard K/N` takes it. */
  readonly shard: string;
  /** The scheduler and the variables it came from, for the log. */
  readonly from: string;
}

type Env = Readonly<Record<string, string | undefined>>;

function int(env: Env, name: string, min: number): number {
  const raw = env[name];
  if (raw === undefined) throw new CbpError(`--shard auto: ${name} is not set; expected it next to the other variables of the scheduler`);
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) throw new CbpError(`--shard auto: ${name} is '${raw}', expected an integer ≥ ${min}`);
  return Number(raw);
}

/**
 * `--shard auto`: this process's K/N from the scheduler that fanned the evaluation out. A SLURM job array gives its
 * task id, count and lowest id (so `--array=0-7`, `1-8` and `10-24:2` all work; a list of ids such as `1,3,8` is
 * refused, since its tasks would not cover every shard); a Kubernetes Indexed Job gives JOB_COMPLETION_INDEX
 * (0-based) and the count in CBP_SHARD_COUNT, set in the manifest to the Job's `completions`. SLURM wins when both
 * are present.
 */
export function shardFromEnv(env: Env): AutoShard {
  if (env.SLURM_ARRAY_TASK_ID !== undefined) {
    const id = int(env, 'SLURM_ARRAY_TASK_ID', 0);
    const count = int(env, 'SLURM_ARRAY_TASK_COUNT', 1);
    const min = int(env, 'SLURM_ARRAY_TASK_MIN', 0);
    const step = env.SLURM_ARRAY_TASK_STEP !== undefined ? int(env, 'SLURM_ARRAY_TASK_STEP', 1) : 1;
    const max = env.SLURM_ARRAY_TASK_MAX !== undefined ? int(env, 'SLURM_ARRAY_TASK_MAX', min) : min + (count - 1) * step;
    if (max !== min + (count - 1) * step) {
      throw new CbpError(`--shard auto: the SLURM array runs ${count} tasks with ids ${min}..${max} step ${step}, not an evenly spaced range; use --array=A-B or A-B:S so that every shard gets one task`);
    }
    const k = (id - min) / step + 1;
    if (!Number.isInteger(k) || k < 1 || k > count) {
      throw new CbpError(`--shard auto: SLURM_ARRAY_TASK_ID ${id} is not one of the array's ${count} ids from ${min} in steps of ${step}`);
    }
    return {shard: `${k}/${count}`, from: `SLURM array task ${id} of ${min}..${max}`};
  }
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    const index = int(env, 'JOB_COMPLETION_INDEX', 0);
    if (env[SHARD_COUNT_VAR] === undefined) {
      throw new CbpError(`--shard auto: JOB_COMPLETION_INDEX is ${index} but ${SHARD_COUNT_VAR} is not set; set it in the Job's manifest to spec.completions (docs/SCALE.md)`);
    }
    const count = int(env, SHARD_COUNT_VAR, 1);
    if (index >= count) throw new CbpError(`--shard auto: JOB_COMPLETION_INDEX ${index} is not below ${SHARD_COUNT_VAR} ${count}; set ${SHARD_COUNT_VAR} to the Job's completions`);
    return {shard: `${index + 1}/${count}`, from: `Kubernetes Indexed Job index ${index} of ${count}`};
  }
  throw new CbpError(
    `--shard auto: no scheduler found: expected a SLURM array task (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT, SLURM_ARRAY_TASK_MIN) ` +
      `or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX with ${SHARD_COUNT_VAR}); give --shard K/N otherwise`,
  );
}
