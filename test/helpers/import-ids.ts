import {createHash} from 'node:crypto'
import {IMPORT_UUID_NAMESPACE} from '../../src/lib/import/import.js'

/** RFC 4122 version-3 UUID of `name` in ecap's import namespace, computed independently of the SQL. */
export function uuid3(name: string): string {
  const bytes = createHash('md5')
    .update(Buffer.concat([Buffer.from(IMPORT_UUID_NAMESPACE.replaceAll('-', ''), 'hex'), Buffer.from(name, 'utf8')]))
    .digest()
  bytes[6] = (bytes[6]! & 0x0f) | 0x30
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
