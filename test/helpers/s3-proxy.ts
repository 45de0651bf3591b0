import {createServer, type IncomingMessage, request, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

/** What the proxy does with one request, decided before it is forwarded. */
export type ProxyFault =
  /** Forward it, let the store act on it, then cut the connection: the client never learns the outcome. */
  | 'drop-response'
  /** Cut the connection without forwarding: nothing happened, but the client cannot know that either. */
  | 'drop-request'
  /** Answer 409 ConditionalRequestConflict without forwarding, as S3 does while another conditional write is in flight. */
  | 'conflict'
  | undefined

export interface FaultyProxy {
  endpoint: string
  /** Requests seen so far, as "METHOD /path" (query strings left out). */
  seen: string[]
  close(): Promise<void>
}

/**
 * An HTTP proxy in front of the S3 test server that loses chosen requests or their answers, so that a test can drive
 * the outcomes a real network produces and no test server does by itself: a PUT that landed but whose response never
 * arrived (the SDK then retries it and gets 412 from its own first attempt), a PUT that never arrived.
 */
export async function startFaultyProxy(
  target: string,
  fault: (method: string, path: string, attempt: number) => ProxyFault,
): Promise<FaultyProxy> {
  const upstream = new URL(target)
  const seen: string[] = []
  const attempts = new Map<string, number>()
  const server: Server = createServer((req: IncomingMessage, res) => {
    const path = (req.url ?? '/').split('?')[0] as string
    const key = `${req.method} ${path}`
    seen.push(key)
    const attempt = (attempts.get(key) ?? 0) + 1
    attempts.set(key, attempt)
    const chosen = fault(req.method ?? 'GET', path, attempt)
    if (chosen === 'drop-request') {
      req.socket.destroy()
      return
    }
    if (chosen === 'conflict') {
      req.resume()
      req.on('end', () => {
        res.writeHead(409, {'content-type': 'application/xml'})
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ConditionalRequestConflict</Code><Message>A conflicting conditional operation is currently in progress against this resource.</Message></Error>',
        )
      })
      return
    }
    const forwarded = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        if (chosen === 'drop-response') {
          answer.resume()
          answer.on('end', () => req.socket.destroy())
          return
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    forwarded.on('error', () => req.socket.destroy())
    req.pipe(forwarded)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
