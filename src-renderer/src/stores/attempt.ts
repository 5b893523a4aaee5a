/**
 * The stores' one error policy. A store keeps each failure the user should
 * see in an error slot (a ref its page shows), and runs an action that can
 * fail through `attempt(slot, action)`: a failure becomes one readable line
 * (api/error-message.ts) in the slot, a success clears it. So store actions do
 * not throw at pages, and pages have no try/catch of their own; they show the
 * slot, and act on the boolean when what comes next depends on success.
 */
import type { Ref } from 'vue'
import { errorMessage } from '../api/error-message'

/** Runs `action`; resolves to whether it succeeded, with `slot` holding why not. */
export async function attempt(slot: Ref<string | null>, action: () => Promise<unknown>): Promise<boolean> {
  try {
    await action()
    slot.value = null
    return true
  } catch (error) {
    slot.value = errorMessage(error)
    return false
  }
}
