/**
 * The safetensors format, read and written without a copy of the whole file:
 *
 *   [8 bytes: N, little-endian u64] [N bytes: JSON header] [data buffer]
 *
 * The header maps each tensor name to `{dtype, shape, data_offsets: [begin,
 * end]}` (offsets relative to the data buffer) and may carry a string-to-string
 * `__metadata__`. Reading parses and checks the header up front, then reads one
 * tensor's bytes by offset straight into that tensor's own array, so a
 * multi-gigabyte checkpoint is never held twice. Floats come back as
 * Float32Array whatever they were stored as.
 *
 * Every error names the file, and the tensor when one is at fault: a model
 * folder holds several shards, and "invalid offset" alone helps nobody.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs'

/** Every dtype the format defines, with its size in bytes. */
const DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  U16: 2,
  I16: 2,
  F16: 2,
  BF16: 2,
  U32: 4,
  I32: 4,
  F32: 4,
  U64: 8,
  I64: 8,
  F64: 8,
} as const

export type SafetensorsDtype = keyof typeof DTYPE_BYTES
/** The dtypes the writer produces (model weights). */
export type FloatDtype = 'F32' | 'F16' | 'BF16'
/** The dtypes `read` converts to Float32Array; the others are recognised but refused. */
const READABLE: ReadonlySet<SafetensorsDtype> = new Set(['F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'I16', 'I8', 'U8'])

/** The reference implementation refuses headers above 100 MB; so do we, before allocating. */
const MAX_HEADER_BYTES = 100_000_000

export class SafetensorsError extends Error {
  constructor(
    readonly file: string,
    readonly tensor: string | undefined,
    detail: string,
  ) {
    super(tensor === undefined ? `${file}: ${detail}` : `${file}: tensor "${tensor}": ${detail}`)
    this.name = 'SafetensorsError'
  }
}

export interface TensorInfo {
  name: string
  dtype: SafetensorsDtype
  shape: number[]
  /** Byte offsets in the data buffer, as in the header. */
  dataOffsets: [number, number]
}

export interface SafetensorsHeader {
  /** In header order. */
  tensors: Map<string, TensorInfo>
  metadata: Record<string, string> | undefined
  /** Where the data buffer starts in the file: 8 + N. */
  dataStart: number
}

// ---------------------------------------------------------------------------
// Float conversions. Bit patterns go through a shared 4-byte buffer; the
// format is little-endian and so is every machine Sorted Studio runs on.

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('safetensors: big-endian hosts are not supported')

const scratchF32 = new Float32Array(1)
const scratchU32 = new Uint32Array(scratchF32.buffer)

function bitsOf(x: number): number {
  scratchF32[0] = x
  return scratchU32[0] as number
}

function floatOfBits(bits: number): number {
  scratchU32[0] = bits
  return scratchF32[0] as number
}

/** float32 → IEEE half bits, rounding to nearest, ties to even; NaN stays NaN (quiet). */
export function float32ToFloat16Bits(x: number): number {
  const u = bitsOf(x)
  const sign = (u >>> 16) & 0x8000
  const abs = u & 0x7fffffff
  if (abs > 0x7f800000) return sign | 0x7e00 | ((abs >>> 13) & 0x3ff) // NaN, quiet bit set
  // 65520 is halfway between 65504 (odd mantissa) and 2^16, so it and above round to infinity.
  if (abs >= 0x477ff000) return sign | 0x7c00
  const exponent = abs >>> 23
  if (exponent < 113) {
    // Below the smallest normal half (2^-14): a subnormal, counted in units of 2^-24.
    if (exponent < 102) return sign // below 2^-25, the halfway point to the smallest subnormal
    const mantissa = (abs & 0x7fffff) | 0x800000
    const shift = 126 - exponent // 14..24
    return sign | roundShift(mantissa, shift)
  }
  // Normal: rebias the exponent, keep 10 mantissa bits; a carry into the exponent is correct.
  return sign | roundShift(((exponent - 112) << 23) | (abs & 0x7fffff), 13)
}

/** value >> shift, rounded to nearest with ties to even. */
function roundShift(value: number, shift: number): number {
  const truncated = value >>> shift
  const rest = value & ((1 << shift) - 1)
  const half = 1 << (shift - 1)
  return rest > half || (rest === half && (truncated & 1) === 1) ? truncated + 1 : truncated
}

/** IEEE half bits → number (exact). */
export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const exponent = (h >>> 10) & 0x1f
  const mantissa = h & 0x3ff
  if (exponent === 0) return sign * mantissa * 2 ** -24
  if (exponent === 31) return mantissa === 0 ? sign * Infinity : floatOfBits(((h & 0x8000) << 16) | 0x7f800000 | (mantissa << 13))
  return floatOfBits(((h & 0x8000) << 16) | ((exponent + 112) << 23) | (mantissa << 13))
}

/** float32 → bfloat16 bits (the top half), rounding to nearest, ties to even; NaN stays NaN (quiet). */
export function float32ToBfloat16Bits(x: number): number {
  const u = bitsOf(x)
  if ((u & 0x7fffffff) > 0x7f800000) return (u >>> 16) | 0x40
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff
}

/** bfloat16 bits → number (exact). */
export function bfloat16BitsToFloat32(b: number): number {
  return floatOfBits((b & 0xffff) << 16)
}

/** x as it comes back after being stored as `dtype`: what a reader will see. */
export function roundToDtype(data: Float32Array, dtype: FloatDtype): Float32Array {
  if (dtype === 'F32') return Float32Array.from(data)
  const encode = dtype === 'F16' ? float32ToFloat16Bits : float32ToBfloat16Bits
  const decode = dtype === 'F16' ? float16BitsToFloat32 : bfloat16BitsToFloat32
  return data.map((x) => decode(encode(x)))
}

let halfTable: Float32Array | undefined

/** All 65536 half values, built once: decoding a tensor is then one lookup per element. */
function float16Table(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536)
    for (let h = 0; h < 65536; h++) halfTable[h] = float16BitsToFloat32(h)
  }
  return halfTable
}

// ---------------------------------------------------------------------------
// Header

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
}

function elementCount(shape: number[]): number {
  return shape.reduce((n, s) => n * s, 1)
}

/** Parses and checks the N header bytes; `dataBytes` is the size of the data buffer that follows them. */
export function parseHeader(file: string, headerBytes: Uint8Array, dataBytes: number): SafetensorsHeader {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes))
  } catch (error) {
    throw new SafetensorsError(file, undefined, `header is not valid JSON (${error instanceof Error ? error.message : String(error)}); not a safetensors file?`)
  }
  if (!isPlainObject(json)) throw new SafetensorsError(file, undefined, 'header is not a JSON object; not a safetensors file?')

  let metadata: Record<string, string> | undefined
  const tensors = new Map<string, TensorInfo>()
  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry) || !Object.values(entry).every((v) => typeof v === 'string')) {
        throw new SafetensorsError(file, undefined, '__metadata__ must map strings to strings')
      }
      metadata = entry as Record<string, string>
      continue
    }
    const fail = (detail: string): never => {
      throw new SafetensorsError(file, name, detail)
    }
    if (!isPlainObject(entry)) fail('header entry is not an object')
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) fail(`unknown dtype ${JSON.stringify(dtype)}`)
    if (!Array.isArray(shape) || !shape.every(isCount)) fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`)
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      fail(`data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`)
    }
    const info: TensorInfo = { name, dtype: dtype as SafetensorsDtype, shape: shape as number[], dataOffsets: offsets as [number, number] }
    const [begin, end] = info.dataOffsets
    if (begin > end) fail(`data_offsets [${begin}, ${end}] end before they begin`)
    const expected = elementCount(info.shape) * DTYPE_BYTES[info.dtype]
    if (!Number.isSafeInteger(expected)) fail(`shape [${info.shape.join(', ')}] is too large`)
    if (end - begin !== expected) {
      fail(`data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${info.dtype} [${info.shape.join(', ')}] needs ${expected}`)
    }
    if (end > dataBytes) {
      fail(`data_offsets [${begin}, ${end}] run past the end of the data (${dataBytes} bytes): the file is truncated or the header is wrong`)
    }
    tensors.set(name, info)
  }

  // Tensors must tile the data buffer exactly, as the reference implementation requires.
  const byOffset = [...tensors.values()].sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1])
  let position = 0
  let previous: TensorInfo | undefined
  for (const info of byOffset) {
    const [begin, end] = info.dataOffsets
    if (begin < position) {
      throw new SafetensorsError(file, info.name, `data_offsets [${begin}, ${end}] overlap tensor "${previous?.name}" (ends at ${position})`)
    }
    if (begin > position) throw new SafetensorsError(file, info.name, `data_offsets [${begin}, ${end}] leave a gap after byte ${position} of the data`)
    position = end
    previous = info
  }
  if (position !== dataBytes) {
    throw new SafetensorsError(file, undefined, `the header describes ${position} bytes of data but the file holds ${dataBytes}`)
  }
  return { tensors, metadata, dataStart: 8 + headerBytes.length }
}

// ---------------------------------------------------------------------------
// Reading

/** Reads exactly `target.byteLength` bytes at `position`, in chunks readSync can take. */
function readFully(fd: number, file: string, tensor: string | undefined, target: ArrayBufferView, position: number): void {
  const bytes = new Uint8Array(target.buffer, target.byteOffset, target.byteLength)
  const chunk = 1 << 30
  let done = 0
  while (done < bytes.length) {
    const n = readSync(fd, bytes, done, Math.min(chunk, bytes.length - done), position + done)
    if (n === 0) throw new SafetensorsError(file, tensor, `unexpected end of file at byte ${position + done}: truncated`)
    done += n
  }
}

/**
 * An open safetensors file: the header is read and checked on open, tensor
 * data only when asked for. Close it when done (or use `readSafetensors`).
 */
export class SafetensorsFile {
  private fd: number | undefined

  private constructor(
    readonly file: string,
    fd: number,
    readonly header: SafetensorsHeader,
  ) {
    this.fd = fd
  }

  static open(file: string): SafetensorsFile {
    let fd: number
    try {
      fd = openSync(file, 'r')
    } catch (error) {
      throw new SafetensorsError(file, undefined, `cannot open (${error instanceof Error ? error.message : String(error)})`)
    }
    try {
      const stats = fstatSync(fd)
      // A folder opens for reading on Linux; reading it would fail with a bare EISDIR.
      if (stats.isDirectory()) throw new SafetensorsError(file, undefined, 'is a folder, not a safetensors file')
      if (!stats.isFile()) throw new SafetensorsError(file, undefined, 'is not a regular file')
      const size = stats.size
      if (size < 8) throw new SafetensorsError(file, undefined, `${size} bytes is too short for a safetensors file`)
      const prefix = new Uint8Array(8)
      readFully(fd, file, undefined, prefix, 0)
      const headerLength = new DataView(prefix.buffer).getBigUint64(0, true)
      if (headerLength > BigInt(size - 8)) {
        throw new SafetensorsError(file, undefined, `header length ${headerLength} runs past the end of the file (${size} bytes); not a safetensors file, or truncated`)
      }
      const n = Number(headerLength)
      if (n > MAX_HEADER_BYTES) throw new SafetensorsError(file, undefined, `header length ${n} is over the 100 MB limit`)
      const headerBytes = new Uint8Array(n)
      readFully(fd, file, undefined, headerBytes, 8)
      const header = parseHeader(file, headerBytes, size - 8 - n)
      return new SafetensorsFile(file, fd, header)
    } catch (error) {
      closeSync(fd)
      throw error
    }
  }

  names(): string[] {
    return [...this.header.tensors.keys()]
  }

  has(name: string): boolean {
    return this.header.tensors.has(name)
  }

  info(name: string): TensorInfo {
    const info = this.header.tensors.get(name)
    if (!info) throw new SafetensorsError(this.file, name, 'no such tensor in this file')
    return info
  }

  private openFd(name: string): number {
    if (this.fd === undefined) throw new SafetensorsError(this.file, name, 'read after close')
    return this.fd
  }

  /** The tensor's stored bytes, unconverted. */
  readBytes(name: string): Uint8Array {
    const info = this.info(name)
    const bytes = new Uint8Array(info.dataOffsets[1] - info.dataOffsets[0])
    readFully(this.openFd(name), this.file, name, bytes, this.header.dataStart + info.dataOffsets[0])
    return bytes
  }

  /**
   * The tensor as its raw integers when it is stored as `dtype` (I32, or F16
   * as bits): pre-quantized checkpoints keep packed codes in int32 and scales
   * in fp16, which must reach the repacker bit for bit, never through floats.
   */
  readRaw(name: string, dtype: 'I32'): Int32Array
  readRaw(name: string, dtype: 'F16'): Uint16Array
  readRaw(name: string, dtype: 'I32' | 'F16'): Int32Array | Uint16Array {
    const info = this.info(name)
    if (info.dtype !== dtype) throw new SafetensorsError(this.file, name, `dtype ${info.dtype}, expected ${dtype}`)
    const count = elementCount(info.shape)
    const array = dtype === 'I32' ? new Int32Array(count) : new Uint16Array(count)
    readFully(this.openFd(name), this.file, name, array, this.header.dataStart + info.dataOffsets[0])
    return array
  }

  /** The tensor as float32, whatever its stored dtype (F32 is read in place, without a copy). */
  read(name: string): Float32Array {
    const info = this.info(name)
    if (!READABLE.has(info.dtype)) throw new SafetensorsError(this.file, name, `dtype ${info.dtype} cannot be read as floats`)
    const fd = this.openFd(name)
    const count = elementCount(info.shape)
    const position = this.header.dataStart + info.dataOffsets[0]
    const load = <T extends ArrayBufferView>(array: T): T => {
      readFully(fd, this.file, name, array, position)
      return array
    }
    switch (info.dtype) {
      case 'F32':
        return load(new Float32Array(count))
      case 'F16': {
        const bits = load(new Uint16Array(count))
        const table = float16Table()
        const out = new Float32Array(count)
        for (let i = 0; i < count; i++) out[i] = table[bits[i] as number] as number
        return out
      }
      case 'BF16': {
        const bits = load(new Uint16Array(count))
        const out = new Float32Array(count)
        const outBits = new Uint32Array(out.buffer)
        for (let i = 0; i < count; i++) outBits[i] = (bits[i] as number) << 16
        return out
      }
      case 'F64':
        return Float32Array.from(load(new Float64Array(count)))
      case 'I64':
        return Float32Array.from(load(new BigInt64Array(count)), Number)
      case 'I32':
        return Float32Array.from(load(new Int32Array(count)))
      case 'I16':
        return Float32Array.from(load(new Int16Array(count)))
      case 'I8':
        return Float32Array.from(load(new Int8Array(count)))
      default:
        return Float32Array.from(load(new Uint8Array(count)))
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }
}

/** Reads the header of a file (and checks it) without reading any tensor. */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const f = SafetensorsFile.open(file)
  f.close()
  return f.header
}

/** Reads every tensor of a (small) file as float32. */
export function readSafetensors(file: string): { tensors: Map<string, { shape: number[]; dtype: SafetensorsDtype; data: Float32Array }>; metadata: Record<string, string> | undefined } {
  const f = SafetensorsFile.open(file)
  try {
    const tensors = new Map(f.names().map((name) => [name, { shape: f.info(name).shape, dtype: f.info(name).dtype, data: f.read(name) }]))
    return { tensors, metadata: f.header.metadata }
  } finally {
    f.close()
  }
}

// ---------------------------------------------------------------------------
// Writing

export interface FloatTensorToWrite {
  name: string
  shape: number[]
  data: Float32Array
  /** Overrides the file's dtype for this tensor. */
  dtype?: FloatDtype
}

/**
 * A tensor written bit for bit, never converted: int32 values as I32, or
 * fp16 bit patterns as F16 (GPTQ's packed codes and scales).
 */
export type RawTensorToWrite = { name: string; shape: number[]; dtype: 'I32'; data: Int32Array } | { name: string; shape: number[]; dtype: 'F16'; data: Uint16Array }

export type TensorToWrite = FloatTensorToWrite | RawTensorToWrite

function isRaw(t: TensorToWrite): t is RawTensorToWrite {
  return !(t.data instanceof Float32Array)
}

export interface WriteOptions {
  dtype: FloatDtype
  /** `__metadata__`; Hugging Face's loader wants `{format: 'pt'}`. */
  metadata?: Record<string, string>
}

/** Writes exactly the given bytes. */
function writeFully(fd: number, bytes: Uint8Array): void {
  let done = 0
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done)
}

const WRITE_CHUNK = 1 << 16

/** Writes one tensor, converting in chunks so no full-size second copy is made. */
function writeTensor(fd: number, data: Float32Array, dtype: FloatDtype): void {
  if (dtype === 'F32') {
    writeFully(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    return
  }
  const encode = dtype === 'F16' ? float32ToFloat16Bits : float32ToBfloat16Bits
  const chunk = new Uint16Array(Math.min(WRITE_CHUNK, data.length))
  for (let start = 0; start < data.length; start += chunk.length) {
    const n = Math.min(chunk.length, data.length - start)
    for (let i = 0; i < n; i++) chunk[i] = encode(data[start + i] as number)
    writeFully(fd, new Uint8Array(chunk.buffer, 0, n * 2))
  }
}

/**
 * Writes tensors, in the given order, to `file` (created or truncated) and
 * syncs it to disk. The header is padded with spaces to a multiple of 8 bytes
 * so the data buffer is aligned, as the reference writer does.
 */
export function writeSafetensors(file: string, tensors: TensorToWrite[], options: WriteOptions): void {
  const header = Object.create(null) as Record<string, unknown> // a tensor may be called "__proto__"
  if (options.metadata) header.__metadata__ = options.metadata
  let offset = 0
  for (const t of tensors) {
    if (t.name === '__metadata__' || t.name in header) throw new SafetensorsError(file, t.name, 'duplicate or reserved tensor name')
    if (!t.shape.every(isCount)) throw new SafetensorsError(file, t.name, `shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`)
    if (elementCount(t.shape) !== t.data.length) {
      throw new SafetensorsError(file, t.name, `shape [${t.shape.join(', ')}] needs ${elementCount(t.shape)} values, got ${t.data.length}`)
    }
    if (isRaw(t) && !((t.dtype === 'I32' && t.data instanceof Int32Array) || (t.dtype === 'F16' && t.data instanceof Uint16Array))) {
      throw new SafetensorsError(file, t.name, `raw data must be an Int32Array written as I32 or a Uint16Array of fp16 bits written as F16 (got dtype ${String(t.dtype)})`)
    }
    const dtype = t.dtype ?? options.dtype
    const bytes = t.data.length * DTYPE_BYTES[dtype]
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] }
    offset += bytes
  }
  const json = new TextEncoder().encode(JSON.stringify(header))
  const padded = Math.ceil(json.length / 8) * 8
  const prefix = new Uint8Array(8 + padded).fill(0x20)
  new DataView(prefix.buffer).setBigUint64(0, BigInt(padded), true)
  prefix.set(json, 8)

  const fd = openSync(file, 'w')
  try {
    writeFully(fd, prefix)
    for (const t of tensors) {
      if (isRaw(t)) writeFully(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))
      else writeTensor(fd, t.data, t.dtype ?? options.dtype)
    }
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
