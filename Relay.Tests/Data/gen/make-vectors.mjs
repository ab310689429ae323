// Generates NIP-01 canonical-id test vectors using the real nostr-tools client library.
//
//   cd Relay.Tests/Data/gen && npm ci && node make-vectors.mjs
//
// Writes:
//   ../id-vectors.json  - valid events signed by nostr-tools finalizeEvent, with the exact
//                         string nostr-tools serializeEvent hashes to produce the id.
//   ../bad-events.json  - raw event-object JSON strings a strict NIP-01 relay must reject.
//
// Secret keys are deterministic (sha256 of "key1", "key2", ...). Signatures use BIP-340
// random aux data, so `sig` values change between runs; ids do not.

import { writeFileSync, readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import assert from 'node:assert/strict'
import { finalizeEvent, verifyEvent, serializeEvent, getEventHash, getPublicKey } from 'nostr-tools/pure'
import { schnorr } from '@noble/curves/secp256k1.js'

const here = dirname(fileURLToPath(import.meta.url))
const outDir = join(here, '..')
const ntVersion = JSON.parse(readFileSync(join(here, 'node_modules/nostr-tools/package.json'), 'utf8')).version

const sha256 = (data) => createHash('sha256').update(data).digest()
const key = (label) => new Uint8Array(sha256(label)) // deterministic secret key
const hex = (b) => Buffer.from(b).toString('hex')

const K1 = key('key1')
const K2 = key('key2')
const K3 = key('key3')

// ---------------------------------------------------------------------------------------
// Valid vectors
// ---------------------------------------------------------------------------------------

const T0 = 1700000000
const vectors = []

function add(name, { kind = 1, created_at = T0, tags = [], content = '', sk = K1 } = {}) {
  // deep copy tags so later mutation of shared arrays cannot affect the event
  const template = { kind, created_at, tags: JSON.parse(JSON.stringify(tags)), content }
  const ev = finalizeEvent(template, sk)
  const serialized = serializeEvent(ev)
  const event = {
    id: ev.id,
    pubkey: ev.pubkey,
    created_at: ev.created_at,
    kind: ev.kind,
    tags: ev.tags,
    content: ev.content,
    sig: ev.sig,
  }
  vectors.push({ name, serialized, event })
}

const hexCode = (c) => 'U+' + c.toString(16).toUpperCase().padStart(4, '0')
const C0_ALL = Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)).join('')
const C1_ALL = Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(0x80 + i)).join('')

// plain
add('plain ascii', { content: 'hello world' })
add('empty content', { content: '' })
add('ascii printable 0x20-0x7E', {
  content: Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).join(''),
})

// C0 controls individually (the ones with short escapes plus a few \u00XX ones)
for (const c of [0x00, 0x01, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1b, 0x1f]) {
  add(`content control ${hexCode(c)}`, { content: `a${String.fromCharCode(c)}b` })
}
add('content all C0 controls U+0000..U+001F', { content: C0_ALL })
add('content only U+0000', { content: '\u0000' })

// JSON-significant and HTML-ish characters
add('content quotes and backslashes', { content: 'say "hi" \\ back\\slash \\"both\\" \\\\n literal' })
add('content forward slash', { content: 'a/b </script> http://x.y/z' })
add("content html chars <>&'", { content: "<b>&amp; 'single'</b> & < > '" })

// DEL, C1, line/paragraph separators
add('content U+007F DEL', { content: 'a\u007fb' })
add('content C1 controls U+0080..U+009F', { content: C1_ALL })
add('content U+2028 U+2029', { content: 'line\u2028sep para\u2029sep' })
add('content non-ascii Latin-1 U+00A0..U+00FF', {
  content: Array.from({ length: 0x60 }, (_, i) => String.fromCharCode(0xa0 + i)).join(''),
})

// multi-byte
add('content emoji surrogate pairs', { content: '🤙🏽 nostr ⚡ 👨‍👩‍👧‍👦 🏳️‍🌈 𝄞' })
add('content CJK', { content: '你好，世界。日本語のテキスト。한국어' })
add('content combining marks', { content: 'e\u0301 vs \u00e9; a\u0308\u0304; Z\u0351\u0352\u0353alg\u0310o' })
add('content BOM and noncharacter U+FFFF', { content: '\ufeffbom \uffff end' })
add('content 4-byte max U+10FFFF', { content: 'max\u{10ffff}' })
add('content mixed RTL', { content: 'שלום עולם مرحبا' })

// very long
{
  const unit = 'The quick brown fox jumps over the lazy dog. 🦊 "q" \\ \n'
  let s = ''
  while (Buffer.byteLength(s, 'utf8') < 70 * 1024) s += unit
  add('content very long ~70KB', { content: s })
}

// tags
add('tags empty array', { tags: [], content: 'no tags' })
add('tags with special characters in values', {
  tags: [
    ['t', 'a"b\\c/d'],
    ['t', C0_ALL],
    ['t', "<>&'"],
    ['t', '\u007f' + C1_ALL],
    ['t', '\u2028\u2029'],
    ['t', '🤙你好e\u0301'],
  ],
  content: 'special tags',
})
add('tags with U+0000 in tag name and value', { tags: [['\u0000', 'x\u0000y']], content: '' })
add('tags with empty strings', { tags: [[''], ['', ''], ['e', '', ''], []], content: 'empty strings' })
add('tags many elements', {
  tags: [Array.from({ length: 50 }, (_, i) => `v${i}`), ...Array.from({ length: 100 }, (_, i) => ['p', hex(sha256('p' + i))])],
  content: 'many',
})
add('tags typical e/p with relay hints', {
  tags: [
    ['e', hex(sha256('e1')), 'wss://relay.example.com', 'root'],
    ['p', getPublicKey(K2)],
  ],
  content: 'reply',
})

// kinds
add('kind 0 metadata', {
  kind: 0,
  content: JSON.stringify({ name: 'alice "a"', about: 'line1\nline2 \u00e9 🤙', picture: 'https://x.y/p.png' }),
})
add('kind 3 contacts', { kind: 3, tags: [['p', getPublicKey(K2)], ['p', getPublicKey(K3), 'wss://r.example', 'bob']], content: '' })
add('kind 10002 relay list', {
  kind: 10002,
  tags: [['r', 'wss://a.example'], ['r', 'wss://b.example', 'read'], ['r', 'wss://c.example/', 'write']],
  content: '',
})
add('kind 30023 long-form with d tag', {
  kind: 30023,
  tags: [['d', 'my-article'], ['title', 'Title "quoted"'], ['published_at', '1700000000']],
  content: '# Heading\n\nSome *markdown* with `code`\tand tabs.\r\n',
})
add('kind 30023 empty d tag', { kind: 30023, tags: [['d', '']], content: 'x' })
add('kind 20001 ephemeral', { kind: 20001, content: 'ephemeral' })
add('kind 65535 max', { kind: 65535, content: 'max kind' })

// created_at
add('created_at 0', { created_at: 0, content: 'epoch' })
add('created_at 4102444800 (2100-01-01)', { created_at: 4102444800, content: 'future' })
add('created_at 2^32', { created_at: 4294967296, content: 'big' })

// other keys
add('key2 signer', { sk: K2, content: 'from key2' })
add('key3 signer with controls', { sk: K3, content: 'k3\u0000\b\t\n\f\r\u001f"\\' })

// --- self-checks on the valid vectors
const names = new Set()
for (const v of vectors) {
  assert(!names.has(v.name), 'duplicate name ' + v.name)
  names.add(v.name)
  // fresh object (no cached verifiedSymbol) round-tripped through JSON
  const fresh = JSON.parse(JSON.stringify(v.event))
  assert.equal(verifyEvent(fresh), true, 'verifyEvent failed: ' + v.name)
  assert.equal(serializeEvent(fresh), v.serialized, 'serialize mismatch: ' + v.name)
  assert.equal(hex(sha256(Buffer.from(v.serialized, 'utf8'))), v.event.id, 'id != sha256(serialized): ' + v.name)
  assert.equal(getEventHash(fresh), v.event.id)
}
for (const c of [0x00, 0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x1f]) {
  assert(vectors.some((v) => v.event.content.includes(String.fromCharCode(c))), 'missing control ' + hexCode(c))
}
for (const k of [0, 1, 3, 10002, 30023, 20001]) assert(vectors.some((v) => v.event.kind === k), 'missing kind ' + k)

// ---------------------------------------------------------------------------------------
// Bad events (mutations of real signed events)
// ---------------------------------------------------------------------------------------

// Sign an arbitrary (possibly non-conforming) object the way a naive client would: id is
// sha256 of JSON.stringify([0,pubkey,created_at,kind,tags,content]) over whatever values the
// fields hold, and sig is a valid BIP-340 signature over that id. A relay that only checks
// "id matches hash and sig verifies" would therefore accept these; it must reject on schema.
function naiveSign(fields, sk = K1) {
  const pubkey = fields.pubkey ?? getPublicKey(sk)
  const ser = JSON.stringify([0, pubkey, fields.created_at, fields.kind, fields.tags, fields.content])
  const id = hex(sha256(Buffer.from(ser, 'utf8')))
  const sig = hex(schnorr.sign(Buffer.from(id, 'hex'), sk))
  return { id, pubkey, created_at: fields.created_at, kind: fields.kind, tags: fields.tags, content: fields.content, sig }
}

const base = () => {
  const v = vectors.find((x) => x.name === 'plain ascii').event
  return JSON.parse(JSON.stringify(v))
}
const bad = []
const addBad = (name, obj, reason) => bad.push({ name, json: JSON.stringify(obj), reason })

{
  const e = base()
  e.content = 'hello world!'
  addBad('id mismatch: content changed after signing', e, 'id is not sha256 of the canonical serialization')
}
{
  const e = base()
  const b = Buffer.from(e.sig, 'hex')
  b[b.length - 1] ^= 0x01
  e.sig = b.toString('hex')
  addBad('sig one bit flipped', e, 'schnorr signature does not verify (lowest bit of last byte flipped)')
}
{
  const e = base()
  e.id = e.id.toUpperCase()
  assert.notEqual(e.id, base().id)
  addBad('id uppercase hex', e, 'id must be 64 lowercase hex chars (value is otherwise correct; sig is over the lowercase id)')
}
{
  const e = base()
  e.pubkey = e.pubkey.slice(0, 63)
  addBad('pubkey 63 chars', e, 'pubkey must be exactly 64 lowercase hex chars')
}
{
  const e = naiveSign({ pubkey: getPublicKey(K1).slice(0, 63), created_at: T0, kind: 1, tags: [], content: 'short pubkey' })
  addBad('pubkey 63 chars, id consistent', e, 'pubkey must be exactly 64 lowercase hex chars (id = sha256 of naive serialization)')
}
{
  const e = naiveSign({ created_at: String(T0), kind: 1, tags: [], content: 'string created_at' })
  addBad('created_at as string', e, 'created_at must be a JSON integer, not a string (id/sig consistent with naive serialization)')
}
{
  const e = naiveSign({ created_at: -1, kind: 1, tags: [], content: 'negative created_at' })
  addBad('created_at negative', e, 'created_at must be a non-negative integer (id/sig consistent)')
}
{
  const e = naiveSign({ created_at: 1.5, kind: 1, tags: [], content: 'fractional created_at' })
  addBad('created_at fractional 1.5', e, 'created_at must be an integer (id/sig consistent with "1.5" serialization)')
}
{
  const e = naiveSign({ created_at: T0, kind: '1', tags: [], content: 'string kind' })
  addBad('kind as string', e, 'kind must be a JSON integer, not a string (id/sig consistent)')
}
{
  const e = naiveSign({ created_at: T0, kind: -1, tags: [], content: 'negative kind' })
  addBad('kind negative', e, 'kind must be in 0..65535 (id/sig consistent)')
}
{
  const e = naiveSign({ created_at: T0, kind: 65536, tags: [], content: 'kind too large' })
  addBad('kind 65536', e, 'kind must be in 0..65535 (id/sig consistent)')
}
{
  const e = naiveSign({ created_at: T0, kind: 1, tags: { t: 'x' }, content: 'tags object' })
  addBad('tags not array (object)', e, 'tags must be an array of arrays of strings (id/sig consistent)')
}
{
  const e = naiveSign({ created_at: T0, kind: 1, tags: 't', content: 'tags string' })
  addBad('tags not array (string)', e, 'tags must be an array of arrays of strings (id/sig consistent)')
}
{
  const e = naiveSign({ created_at: T0, kind: 1, tags: [['t', 5]], content: 'numeric tag element' })
  addBad('tag element number', e, 'tag elements must be strings (id/sig consistent)')
}
{
  const e = naiveSign({ created_at: T0, kind: 1, tags: ['t'], content: 'tag not array' })
  addBad('tag is string not array', e, 'each tag must be an array (id/sig consistent)')
}
{
  const e = naiveSign({ created_at: T0, kind: 1, tags: [], content: 42 })
  addBad('content number', e, 'content must be a string (id/sig consistent)')
}
{
  const e = base()
  delete e.sig
  addBad('missing sig', e, 'sig field is required')
}

// --- self-checks on the bad events: each must fail either nostr-tools verifyEvent or a
// strict NIP-01 schema check.
const hex64 = /^[0-9a-f]{64}$/
const hex128 = /^[0-9a-f]{128}$/
function strictSchemaOk(e) {
  return (
    hex64.test(e.id ?? '') &&
    hex64.test(e.pubkey ?? '') &&
    hex128.test(e.sig ?? '') &&
    Number.isInteger(e.created_at) && e.created_at >= 0 &&
    Number.isInteger(e.kind) && e.kind >= 0 && e.kind <= 65535 &&
    Array.isArray(e.tags) && e.tags.every((t) => Array.isArray(t) && t.every((x) => typeof x === 'string')) &&
    typeof e.content === 'string'
  )
}
for (const b of bad) {
  const e = JSON.parse(b.json)
  const ok = strictSchemaOk(e) && verifyEvent(JSON.parse(b.json))
  assert.equal(ok, false, 'bad event unexpectedly valid: ' + b.name)
}
// sanity: a valid event passes the strict check
assert(vectors.every((v) => strictSchemaOk(v.event)))

writeFileSync(join(outDir, 'id-vectors.json'), JSON.stringify(vectors, null, 2) + '\n')
writeFileSync(join(outDir, 'bad-events.json'), JSON.stringify(bad, null, 2) + '\n')
console.log(`nostr-tools ${ntVersion}: wrote ${vectors.length} id vectors, ${bad.length} bad events`)
