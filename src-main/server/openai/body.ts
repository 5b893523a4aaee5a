/**
 * Reads a JSON request body, at most `limit` bytes: a larger one is a 413
 * (refused from its Content-Length before a byte is read, or as soon as it
 * grows past the limit), text that is not JSON a 400.
 */
import type { IncomingMessage } from 'node:http'
import { badRequest, OpenAiError } from './errors'

/** Requests are JSON documents with a prompt or a conversation; 4 MiB holds any context a local model takes. */
export const maxBodyBytes = 4 * 1024 * 1024

function tooLarge(limit: number): OpenAiError {
  return new OpenAiError(413, `The request body is larger than ${limit} bytes.`, 'invalid_request_error', null, 'request_too_large')
}

export function readJsonBody(req: IncomingMessage, limit = maxBodyBytes): Promise<unknown> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge(limit))
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let failed = false
    req.on('data', (chunk: Buffer) => {
      if (failed) return
      size += chunk.length
      if (size > limit) {
        failed = true
        reject(tooLarge(limit))
        return
      }
      chunks.push(chunk)
    })
    req.on('error', (error) => {
      failed = true
      reject(error)
    })
    req.on('close', () => {
      if (failed || req.complete) return
      failed = true
      reject(badRequest('The client closed the connection before the body was complete.'))
    })
    req.on('end', () => {
      if (failed) return
      const text = Buffer.concat(chunks).toString('utf8')
      if (text.trim() === '') return reject(badRequest('The request body is empty: send a JSON object.'))
      try {
        resolve(JSON.parse(text))
      } catch (error) {
        reject(badRequest(`The request body is not valid JSON: ${(error as Error).message}`))
      }
    })
  })
}
