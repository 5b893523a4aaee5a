/**
 * The wire protocol of browser mode (one JSON message per WebSocket frame),
 * and the result shape Electron IPC returns for the same requests.
 */
import { z } from 'zod'
import { ApiErrorData } from './errors'

export const RequestMessage = z
  .object({
    type: z.literal('request'),
    /** Chosen by the client; echoed in the response. */
    id: z.number().int().nonnegative(),
    method: z.string().min(1),
    params: z.unknown().optional(),
  })
  .strict()
export type RequestMessage = z.infer<typeof RequestMessage>

export const ResponseMessage = z.discriminatedUnion('ok', [
  z.object({ type: z.literal('response'), id: z.number().int(), ok: z.literal(true), result: z.unknown() }),
  z.object({ type: z.literal('response'), id: z.number().int(), ok: z.literal(false), error: ApiErrorData }),
])
export type ResponseMessage = z.infer<typeof ResponseMessage>

export const EventMessage = z.object({ type: z.literal('event'), event: z.string(), payload: z.unknown() })
export type EventMessage = z.infer<typeof EventMessage>

/** Sent when a frame cannot be answered as a request (it had no usable id). */
export const ProtocolErrorMessage = z.object({ type: z.literal('error'), error: ApiErrorData })
export type ProtocolErrorMessage = z.infer<typeof ProtocolErrorMessage>

export const ServerMessage = z.union([ResponseMessage, EventMessage, ProtocolErrorMessage])
export type ServerMessage = z.infer<typeof ServerMessage>

/** Result of an IPC call: errors are returned as data so their structure survives IPC. */
export type IpcResult = { ok: true; result: unknown } | { ok: false; error: z.infer<typeof ApiErrorData> }
