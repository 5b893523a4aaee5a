/**
 * Failed system calls (a full disk, a read-only or missing folder, no
 * permission) are the user's to fix, not bugs: the CLI prints them as one
 * line instead of a stack trace. Node's message already names the call and,
 * when it has one, the path: "EACCES: permission denied, open '/x/y'".
 */

/** Node marks a failed system call with an errno code (ENOSPC, EACCES, ENOTDIR, EROFS, …) and the call's name. */
export function isSystemError(error: unknown): error is NodeJS.ErrnoException & { code: string; syscall: string } {
  if (!(error instanceof Error)) return false
  const { code, syscall } = error as NodeJS.ErrnoException
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) && typeof syscall === 'string'
}

/** The one line for a failed system call; "no space left on device" gets plain words in front. */
export function systemErrorLine(error: NodeJS.ErrnoException & { code: string }): string {
  return error.code === 'ENOSPC' ? `The disk is full: ${error.message}` : error.message
}

/** SORTED_DEBUG=1 asks for the stack trace behind a one-line error. */
export function wantsStack(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.SORTED_DEBUG === '1'
}
