/**
 * Validates and routes one request against the contract. Both transports call
 * this, so validation, error shapes and logging are identical in Electron and
 * browser mode.
 */
import { isMethodName, methods, type MethodName, type MethodParams, type MethodResponse } from './contract'
import { ApiError, describeIssues, issuesFromZod } from './errors'
import type { IpcResult } from './protocol'

/** One implementation per contract method; the type forces every method to exist. */
export type Handlers = {
  [M in MethodName]: (params: MethodParams<M>) => Promise<MethodResponse<M>> | MethodResponse<M>
}

export type Dispatch = (method: string, params: unknown) => Promise<IpcResult>

/**
 * Turns a failure the backend understands (a full disk) into the error the
 * user sees; undefined leaves it to be reported, and logged, as a bug.
 */
export type ExplainError = (error: unknown) => ApiError | undefined

export function createDispatch(
  handlers: Handlers,
  log: (message: string, error: unknown) => void,
  explain: ExplainError = () => undefined,
): Dispatch {
  return async (method, rawParams) => {
    if (!isMethodName(method)) {
      return { ok: false, error: new ApiError('unknown_method', `Unknown method "${method}".`).toData() }
    }
    const schema = methods[method]
    const parsed = schema.request.safeParse(rawParams ?? {})
    if (!parsed.success) {
      const issues = issuesFromZod(parsed.error)
      const message = `Invalid parameters for ${method}: ${describeIssues(issues)}`
      return { ok: false, error: new ApiError('invalid_params', message, issues).toData() }
    }
    try {
      const handler = handlers[method] as (params: unknown) => unknown
      const result = await handler(parsed.data)
      // A response that breaks the contract is a backend bug: report it as such
      // instead of handing the UI data its types do not describe.
      const checked = schema.response.safeParse(result)
      if (!checked.success) {
        log(`${method} returned a response outside the contract`, checked.error)
        return { ok: false, error: new ApiError('internal', `${method} produced an invalid response.`).toData() }
      }
      return { ok: true, result: checked.data }
    } catch (error) {
      if (error instanceof ApiError) return { ok: false, error: error.toData() }
      const explained = explain(error)
      if (explained) return { ok: false, error: explained.toData() }
      log(`${method} failed`, error)
      const message = error instanceof Error ? error.message : String(error)
      return { ok: false, error: new ApiError('internal', `${method} failed: ${message}`).toData() }
    }
  }
}
