import { z } from 'zod'

/**
 * Errors cross process boundaries as data, never as thrown objects, so both
 * transports and the renderer see the same structured shape.
 */
export const ApiErrorCode = z.enum([
  'bad_message', // not JSON, or not a well-formed protocol message
  'unknown_method',
  'invalid_params', // the request failed the method's schema
  'not_found',
  'conflict',
  'disk_full', // the disk holding the data folder is full: nothing was saved, retry once space is freed
  'internal', // a bug or an unexpected failure in the backend
])
export type ApiErrorCode = z.infer<typeof ApiErrorCode>

export const ApiErrorIssue = z.object({
  /** Dotted path of the offending field, e.g. `theme` or `items.3.name`. */
  path: z.string(),
  message: z.string(),
})
export type ApiErrorIssue = z.infer<typeof ApiErrorIssue>

export const ApiErrorData = z.object({
  code: ApiErrorCode,
  message: z.string(),
  issues: z.array(ApiErrorIssue).optional(),
})
export type ApiErrorData = z.infer<typeof ApiErrorData>

export class ApiError extends Error {
  readonly code: ApiErrorCode
  readonly issues: ApiErrorIssue[] | undefined

  constructor(code: ApiErrorCode, message: string, issues?: ApiErrorIssue[]) {
    super(message)
    this.name = 'ApiError'
    this.code = code
    this.issues = issues
  }

  toData(): ApiErrorData {
    return this.issues ? { code: this.code, message: this.message, issues: this.issues } : { code: this.code, message: this.message }
  }

  static fromData(data: ApiErrorData): ApiError {
    return new ApiError(data.code, data.message, data.issues)
  }
}

/** Turns zod issues into field-named issues and a one-line message. */
export function issuesFromZod(error: z.ZodError): ApiErrorIssue[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join('.') || '(root)',
    message: issue.message,
  }))
}

export function describeIssues(issues: ApiErrorIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('; ')
}
