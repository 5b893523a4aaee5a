// glibc's allocator, tuned for training. ONNX Runtime allocates every
// activation and gradient with malloc and frees it as soon as the backward has
// read it. Past its first free of a large block, glibc raises its mmap
// threshold (up to 32 MB), so later tensors of a few MB come from its heaps,
// where freed blocks of one size are not reused for another and are not
// returned to the system: a training step's resident memory grew about 0.9 GB
// above what was alive (measured on the d1024 QLoRA step with recomputation:
// peak RSS 2 194 MiB with glibc's defaults, 1 385 with the threshold fixed at
// 4 MB, at the same speed; 1 286 at 128 KB, but 2× slower from page faults).
// glibc reads the setting when a process starts, so it is given to the
// processes that train when they are started (`npm start` for the app, the
// train bench's children); `sorted tune` users on Linux set it themselves
// (README, "Memory").

/** The environment a training process is started with on Linux: {} where it does not apply or is already set. */
export function glibcMallocTuning(env = process.env, platform = process.platform) {
  if (platform !== 'linux' || env.MALLOC_MMAP_THRESHOLD_ !== undefined) return {}
  return { MALLOC_MMAP_THRESHOLD_: String(4 * 1024 * 1024) }
}
