#!/usr/bin/env -S node --openssl-legacy-provider
// s3rver.js - starts a local S3 server for tests: @20minutes/s3rver (installed by
// scripts/install-deps.sh into .tools/npm), which checks SigV4 signatures.
//
// Usage: node tests/lib/s3rver.js --dir DIR [--port N] [--address A] [--bucket NAME]...
//                                [--log FILE]
//   --port 0 (the default) takes a free ephemeral port. Buckets are created at start.
//   --log appends "<METHOD> <path?query> <status>" per request, for tests that check which
//   requests a client made (multipart parts, retries).
//   The key pair S3RVER_ACCESS_KEY_ID / S3RVER_SECRET_ACCESS_KEY from the environment is
//   accepted besides s3rver's built-in S3RVER/S3RVER; requests signed with any other secret
//   are rejected (SignatureDoesNotMatch).
// Prints one line when ready: "s3rver listening on http://127.0.0.1:PORT".
// Node needs --openssl-legacy-provider: s3rver encrypts ListObjectsV2 continuation tokens
// with DES, which OpenSSL 3 only has in its legacy provider (without it every second page
// of a listing fails with HTTP 500).
// Exits on SIGTERM/SIGINT, and by itself when its parent process goes away, so a killed
// test script leaves no server behind. Usually started through tests/integration/lib_s3.sh.
'use strict'
const path = require('node:path')
const fs = require('node:fs')

function usage(msg) {
  process.stderr.write(`s3rver.js: ${msg}\n`)
  process.exit(2)
}

const opts = { port: 0, address: '127.0.0.1', dir: null, buckets: [], log: null }
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]
  const v = argv[i + 1]
  if (v === undefined) usage(`${a} needs a value`)
  if (a === '--port') opts.port = Number(v)
  else if (a === '--address') opts.address = v
  else if (a === '--dir') opts.dir = v
  else if (a === '--bucket') opts.buckets.push(v)
  else if (a === '--log') opts.log = v
  else usage(`unknown argument ${a}`)
  i++
}
if (!opts.dir) usage('--dir is required')
if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage('bad --port')

try {
  require('node:crypto').createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8))
} catch (e) {
  usage('DES is unavailable (continuation tokens need it): run node --openssl-legacy-provider')
}

const top = path.resolve(__dirname, '..', '..')
let modPath
try {
  modPath = require.resolve('@20minutes/s3rver', { paths: [path.join(top, '.tools', 'npm'), __dirname] })
} catch (e) {
  usage('@20minutes/s3rver is not installed: run scripts/install-deps.sh')
}
const S3rver = require(modPath)
const account = require(path.join(path.dirname(modPath), 'models', 'account.js'))

const keyId = process.env.S3RVER_ACCESS_KEY_ID
const secret = process.env.S3RVER_SECRET_ACCESS_KEY
if (keyId && secret) account.DUMMY_ACCOUNT.createKeyPair(keyId, secret)

fs.mkdirSync(opts.dir, { recursive: true })
const server = new S3rver({
  port: opts.port,
  address: opts.address,
  silent: true,
  directory: opts.dir,
  configureBuckets: opts.buckets.map((name) => ({ name })),
})

server.run().then(
  (addr) => {
    if (opts.log) {
      server.httpServer.on('request', (req, res) => {
        res.on('finish', () => fs.appendFileSync(opts.log, `${req.method} ${req.url} ${res.statusCode}\n`))
      })
    }
    process.stdout.write(`s3rver listening on http://${addr.address}:${addr.port}\n`)
  },
  (err) => {
    process.stderr.write(`s3rver.js: cannot start: ${err.message}\n`)
    process.exit(1)
  }
)

const stop = () => process.exit(0)
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
// Reparented (the test script died without cleaning up): stop too.
const parent = process.ppid
setInterval(() => {
  if (process.ppid !== parent) process.exit(0)
}, 500).unref()
