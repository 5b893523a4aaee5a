/** Unix milliseconds. Injected so tests can control time (e.g. a chat's updated_at moving). */
export type Clock = () => number
