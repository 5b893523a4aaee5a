/** Entry point of the built CLI (out/main/cli.js). */
import { main } from './main'
import { wantsStack } from './system-error'

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    // A bug rather than the user's doing (main turns those into messages): still one line, the stack only for SORTED_DEBUG=1.
    const message = error instanceof Error ? error.message : String(error)
    process.stderr.write(`sorted: unexpected error: ${message} (run again with SORTED_DEBUG=1 to see where it happened)\n`)
    if (wantsStack() && error instanceof Error) process.stderr.write(`${error.stack}\n`)
    process.exit(1)
  },
)
