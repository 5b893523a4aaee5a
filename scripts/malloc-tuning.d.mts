/** The environment a training process is started with on Linux: {} where it does not apply or is already set (malloc-tuning.mjs). */
export function glibcMallocTuning(env?: NodeJS.ProcessEnv, platform?: NodeJS.Platform): Record<string, string>
