import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import type {Registry} from 'prom-client'
import {UsageError} from '../errors.js'

export interface MetricsServerOptions {
  /** TCP port; 0 lets the system pick a free one (the URL says which). */
  port: number
  /** Address to listen on: loopback unless the user widens it (--metrics-host 0.0.0.0). */
  host: string
}

export interface MetricsServer {
  /** Where Prometheus scrapes: http://<host>:<port>/metrics. */
  readonly url: string
  /** Stops listening and drops open connections (a scraper's keep-alive must not hold the process); idempotent. */
  close(): Promise<void>
}

export const METRICS_PATH = '/metrics'

/**
 * Serves `registry` in Prometheus text format on `GET /metrics`. Resolves once listening; a port that is taken or
 * not ours to bind, or a host that is not an address of this machine, is a usage error naming the flag to change.
 */
export async function serveMetrics(registry: Registry, options: MetricsServerOptions): Promise<MetricsServer> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0]
    if (path !== METRICS_PATH) {
      response.writeHead(404, {'content-type': 'text/plain'}).end(`Metrics are on ${METRICS_PATH}\n`)
      return
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, {allow: 'GET, HEAD', 'content-type': 'text/plain'}).end('GET only\n')
      return
    }
    registry.metrics().then(
      (text) => response.writeHead(200, {'content-type': registry.contentType}).end(text),
      (error: Error) => response.writeHead(500, {'content-type': 'text/plain'}).end(`${error.message}\n`),
    )
  })
  await listen(server, options)
  const {address, port} = server.address() as AddressInfo
  const host = address.includes(':') ? `[${address}]` : address
  let closed: Promise<void> | undefined
  return {
    url: `http://${host}:${port}${METRICS_PATH}`,
    close() {
      closed ??= new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return closed
    },
  }
}

function listen(server: Server, {port, host}: MetricsServerOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(listenError(error, port, host)))
    server.listen({port, host}, () => resolve())
  })
}

function listenError(error: NodeJS.ErrnoException, port: number, host: string): Error {
  const cause = {cause: error}
  switch (error.code) {
    case 'EADDRINUSE':
      return new UsageError(
        'METRICS_PORT_IN_USE',
        `Cannot serve metrics on ${host}:${port}: another process is listening there.`,
        {...cause, hints: ['--metrics-port <a free port>', `See who holds it: ss -ltnp 'sport = :${port}'`]},
      )
    case 'EACCES':
      return new UsageError('METRICS_PORT_DENIED', `Cannot serve metrics on ${host}:${port}: permission denied.`, {
        ...cause,
        hints: ['--metrics-port 9464 (ports below 1024 need privileges)'],
      })
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new UsageError(
        'METRICS_HOST_INVALID',
        `Cannot serve metrics on ${host}: not an address of this machine.`,
        {
          ...cause,
          hints: ['--metrics-host 127.0.0.1', '--metrics-host 0.0.0.0 (every interface)'],
        },
      )
    default:
      return error
  }
}
