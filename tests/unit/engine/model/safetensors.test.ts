import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  readSafetensors,
  readSafetensorsHeader,
  SafetensorsError,
  SafetensorsFile,
  writeSafetensors,
} from '../../../../src-main/engine/model/safetensors'

const dir = mkdtempSync(join(tmpdir(), 'safetensors-test-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let counter = 0
const path = (name = 'x') => join(dir, `${name}-${counter++}.safetensors`)

/** float32 with these bits. */
const f32 = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0] as number

/** A file written byte by byte: header (object or raw text), then data; the length prefix can lie. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: number): string {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header))
  const prefix = Buffer.alloc(8)
  prefix.writeBigUInt64LE(BigInt(headerLength ?? json.length))
  const file = path('raw')
  writeFileSync(file, Buffer.concat([prefix, json, data]))
  return file
}

/** Plain-code parse of a file's header, independent of the module under test. */
function plainHeader(file: string): { length: number; header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> } {
  const bytes = readFileSync(file)
  const length = Number(bytes.readBigUInt64LE(0))
  return { length, header: JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')) }
}

/** The 16-bit words of a file's data buffer, read with plain code. */
function storedBits(file: string): number[] {
  const bytes = readFileSync(file)
  const start = 8 + plainHeader(file).length
  return Array.from({ length: (bytes.length - start) / 2 }, (_, i) => bytes.readUInt16LE(start + 2 * i))
}

describe('float16 conversion', () => {
  it.each([
    [1.0, 0x3c00],
    [-2.5, 0xc100],
    [65504, 0x7bff],
    [0.5, 0x3800],
    [-0, 0x8000],
    [0, 0x0000],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ])('encodes %d exactly as bits %i', (x, bits) => {
    expect(float32ToFloat16Bits(x)).toBe(bits)
    expect(Object.is(float16BitsToFloat32(bits), x)).toBe(true)
  })

  it('rounds to nearest, ties to even', () => {
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00) // tie, 0x3c00 is even
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02) // tie between 0x3c01 and 0x3c02
    expect(float32ToFloat16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01) // just above the tie
    expect(float32ToFloat16Bits(0.1)).toBe(0x2e66)
    expect(float32ToFloat16Bits(1 / 3)).toBe(0x3555)
  })

  it('overflows to infinity at 65520 and rounds 65519 down', () => {
    expect(float32ToFloat16Bits(65519)).toBe(0x7bff)
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00)
    expect(float32ToFloat16Bits(-1e6)).toBe(0xfc00)
  })

  it('rounds into and out of the subnormals', () => {
    expect(float32ToFloat16Bits(2 ** -25)).toBe(0x0000) // tie between 0 and the smallest subnormal
    expect(float32ToFloat16Bits(3 * 2 ** -25)).toBe(0x0002) // tie between 1 and 2 units: even
    expect(float32ToFloat16Bits(1.5 * 2 ** -25)).toBe(0x0001)
    expect(float32ToFloat16Bits(-(2 ** -26))).toBe(0x8000)
    expect(float32ToFloat16Bits(2 ** -14 - 2 ** -25)).toBe(0x0400) // largest subnormal + half a unit: tie to the even min normal
    expect(float16BitsToFloat32(0x0001)).toBe(5.960464477539063e-8)
  })

  it('keeps NaN a NaN', () => {
    const bits = float32ToFloat16Bits(NaN)
    expect(bits & 0x7c00).toBe(0x7c00)
    expect(bits & 0x3ff).not.toBe(0)
    expect(float16BitsToFloat32(0x7e00)).toBeNaN()
    expect(float16BitsToFloat32(0xfc01)).toBeNaN()
  })
})

describe('bfloat16 conversion', () => {
  it.each([
    [1.0, 0x3f80],
    [-2.5, 0xc020],
    [Infinity, 0x7f80],
    [-Infinity, 0xff80],
    [-0, 0x8000],
    [f32(0x00010000), 0x0001], // a float32 subnormal that bfloat16 holds exactly
  ])('encodes %d exactly as bits %i', (x, bits) => {
    expect(float32ToBfloat16Bits(x)).toBe(bits)
    expect(Object.is(bfloat16BitsToFloat32(bits), x)).toBe(true)
  })

  it('rounds to nearest, ties to even', () => {
    expect(float32ToBfloat16Bits(f32(0x3f808000))).toBe(0x3f80) // tie, down to even
    expect(float32ToBfloat16Bits(f32(0x3f818000))).toBe(0x3f82) // tie, up to even
    expect(float32ToBfloat16Bits(f32(0x3f808001))).toBe(0x3f81) // just above the tie
    expect(float32ToBfloat16Bits(f32(0x3f807fff))).toBe(0x3f80)
    expect(float32ToBfloat16Bits(f32(0x00018000))).toBe(0x0002) // subnormal tie
    expect(float32ToBfloat16Bits(f32(0x7f7fffff))).toBe(0x7f80) // float32 max rounds to infinity
  })

  it('keeps NaN a NaN, even one whose payload lives in the low bits', () => {
    expect(bfloat16BitsToFloat32(float32ToBfloat16Bits(NaN))).toBeNaN()
    expect(bfloat16BitsToFloat32(float32ToBfloat16Bits(f32(0x7f800001)))).toBeNaN()
    expect(bfloat16BitsToFloat32(float32ToBfloat16Bits(f32(0xff800001)))).toBeNaN()
  })
})

describe('safetensors round trips', () => {
  const values = Float32Array.from([1, -2.5, 65504, 2 ** -24, 0.1, 1 / 3, -0, 1e-3])
  const special = Float32Array.from([NaN, Infinity, -Infinity])

  it('F32 is exact, metadata and shapes included', () => {
    const file = path()
    const b = Float32Array.from({ length: 6 }, (_, i) => i * 1.25 - 3)
    writeSafetensors(
      file,
      [
        { name: 'a', shape: [2, 4], data: values },
        { name: 'b', shape: [3, 2], data: b },
        { name: 'special', shape: [3], data: special },
      ],
      { dtype: 'F32', metadata: { format: 'pt' } },
    )
    const read = readSafetensors(file)
    expect(read.metadata).toEqual({ format: 'pt' })
    expect([...read.tensors.keys()]).toEqual(['a', 'b', 'special'])
    expect(read.tensors.get('a')).toEqual({ shape: [2, 4], dtype: 'F32', data: values })
    expect(read.tensors.get('b')?.data).toEqual(b)
    expect(read.tensors.get('special')?.data).toEqual(special)
  })

  it('F16 stores the expected bits and reads back within half precision', () => {
    const file = path()
    writeSafetensors(file, [{ name: 'w', shape: [8], data: values }], { dtype: 'F16' })
    expect(storedBits(file)).toEqual([0x3c00, 0xc100, 0x7bff, 0x0001, 0x2e66, 0x3555, 0x8000, 0x1419])
    const w = readSafetensors(file).tensors.get('w')
    expect(w?.dtype).toBe('F16')
    w?.data.forEach((x, i) => expect(Math.abs(x - (values[i] as number))).toBeLessThanOrEqual(Math.abs(values[i] as number) * 2 ** -11))
  })

  it('BF16 stores the expected bits and reads back within bfloat16 precision', () => {
    const file = path()
    writeSafetensors(file, [{ name: 'w', shape: [8], data: values }], { dtype: 'BF16' })
    expect(storedBits(file)).toEqual([0x3f80, 0xc020, 0x4780, 0x3380, 0x3dcd, 0x3eab, 0x8000, 0x3a83])
    const w = readSafetensors(file).tensors.get('w')?.data as Float32Array
    w.forEach((x, i) => expect(Math.abs(x - (values[i] as number))).toBeLessThanOrEqual(Math.abs(values[i] as number) * 2 ** -8))
    writeSafetensors(file, [{ name: 's', shape: [3], data: special }], { dtype: 'BF16' })
    const s = readSafetensors(file).tensors.get('s')?.data as Float32Array
    expect(s[0]).toBeNaN()
    expect([s[1], s[2]]).toEqual([Infinity, -Infinity])
  })

  it('mixes dtypes per tensor and handles scalars and empty tensors', () => {
    const file = path()
    writeSafetensors(
      file,
      [
        { name: 'scalar', shape: [], data: Float32Array.of(7) },
        { name: 'empty', shape: [0, 3], data: new Float32Array(0) },
        { name: 'half', shape: [2], data: Float32Array.of(1, 2), dtype: 'F16' },
      ],
      { dtype: 'BF16' },
    )
    const read = readSafetensors(file).tensors
    expect(read.get('scalar')).toEqual({ shape: [], dtype: 'BF16', data: Float32Array.of(7) })
    expect(read.get('empty')).toEqual({ shape: [0, 3], dtype: 'BF16', data: new Float32Array(0) })
    expect(read.get('half')).toEqual({ shape: [2], dtype: 'F16', data: Float32Array.of(1, 2) })
  })

  it('writes a header a plain JSON reader accepts: aligned, contiguous offsets', () => {
    const file = path()
    writeSafetensors(
      file,
      [
        { name: 'a', shape: [3], data: Float32Array.of(1, 2, 3), dtype: 'F16' },
        { name: 'b', shape: [1, 2], data: Float32Array.of(4, 5) },
      ],
      { dtype: 'F32', metadata: { format: 'pt' } },
    )
    const { length, header } = plainHeader(file)
    expect(length % 8).toBe(0)
    expect(header).toEqual({
      __metadata__: { format: 'pt' },
      a: { dtype: 'F16', shape: [3], data_offsets: [0, 6] },
      b: { dtype: 'F32', shape: [1, 2], data_offsets: [6, 14] },
    })
    expect(readFileSync(file).length).toBe(8 + length + 14)
  })

  it('reads F64 and I64 tensors as float32', () => {
    const f64 = Buffer.from(Float64Array.of(1.5, -2, 1e300).buffer)
    const i64 = Buffer.from(BigInt64Array.of(3n, -4n).buffer)
    const file = rawFile(
      { d: { dtype: 'F64', shape: [3], data_offsets: [0, 24] }, i: { dtype: 'I64', shape: [2], data_offsets: [24, 40] } },
      Buffer.concat([f64, i64]),
    )
    const read = readSafetensors(file).tensors
    expect(read.get('d')?.data).toEqual(Float32Array.of(1.5, -2, Infinity))
    expect(read.get('i')?.data).toEqual(Float32Array.of(3, -4))
  })

  it('reads one tensor by offset without reading the others', () => {
    const file = path()
    writeSafetensors(
      file,
      [
        { name: 'a', shape: [2], data: Float32Array.of(1, 2) },
        { name: 'b', shape: [2], data: Float32Array.of(3, 4) },
      ],
      { dtype: 'F32' },
    )
    const st = SafetensorsFile.open(file)
    try {
      expect(st.names()).toEqual(['a', 'b'])
      expect(st.info('b')).toEqual({ name: 'b', dtype: 'F32', shape: [2], dataOffsets: [8, 16] })
      expect(st.read('b')).toEqual(Float32Array.of(3, 4))
      expect(() => st.read('c')).toThrow(/tensor "c": no such tensor/)
    } finally {
      st.close()
    }
    expect(() => st.read('a')).toThrow(/read after close/)
  })
})

describe('malformed safetensors files are refused, naming the file and the tensor', () => {
  const ok = { dtype: 'F32', shape: [2], data_offsets: [0, 8] }
  const eightBytes = new Uint8Array(8)

  /** The error `open` throws for `file`. */
  function openError(file: string): SafetensorsError {
    try {
      SafetensorsFile.open(file).close()
    } catch (error) {
      expect(error).toBeInstanceOf(SafetensorsError)
      const e = error as SafetensorsError
      expect(e.file).toBe(file)
      expect(e.message.startsWith(file)).toBe(true)
      return e
    }
    throw new Error('expected an error')
  }

  it('a file shorter than the length prefix', () => {
    const file = path()
    writeFileSync(file, Buffer.from([1, 2, 3]))
    expect(openError(file).message).toMatch(/too short/)
  })

  it('a header length beyond the file size', () => {
    const file = rawFile({ w: ok }, eightBytes, 10_000)
    expect(openError(file).message).toMatch(/header length 10000 runs past the end of the file/)
  })

  it('a huge header length (not a safetensors file at all)', () => {
    const file = path()
    writeFileSync(file, Buffer.from('{"hello": "this is JSON, not safetensors"}'))
    expect(openError(file).message).toMatch(/header length \d+ runs past the end/)
  })

  it('a header that is not JSON', () => {
    expect(openError(rawFile('{"w": {', eightBytes)).message).toMatch(/header is not valid JSON/)
  })

  it('a header that is JSON but not an object', () => {
    expect(openError(rawFile('[1, 2]')).message).toMatch(/header is not a JSON object/)
  })

  it('an unknown dtype', () => {
    const e = openError(rawFile({ w: { ...ok, dtype: 'F7' } }, eightBytes))
    expect(e.tensor).toBe('w')
    expect(e.message).toMatch(/tensor "w": unknown dtype "F7"/)
  })

  it.each([[[2.5]], [[-2]], ['2'], [[2, null]]])('a shape that is not a list of non-negative integers: %j', (shape) => {
    const e = openError(rawFile({ w: { ...ok, shape } }, eightBytes))
    expect(e.tensor).toBe('w')
    expect(e.message).toMatch(/tensor "w": shape .* is not a list of non-negative integers/)
  })

  it('offsets that do not match dtype × shape', () => {
    const e = openError(rawFile({ w: { ...ok, shape: [3] } }, eightBytes))
    expect(e.message).toMatch(/tensor "w": data_offsets \[0, 8\] hold 8 bytes, but F32 \[3\] needs 12/)
  })

  it('offsets that are not a pair of integers', () => {
    expect(openError(rawFile({ w: { ...ok, data_offsets: [0] } }, eightBytes)).message).toMatch(/tensor "w": data_offsets \[0\] is not a pair/)
    expect(openError(rawFile({ w: { ...ok, data_offsets: [0, 8.5] } }, eightBytes)).message).toMatch(/tensor "w": data_offsets/)
  })

  it('offsets that end before they begin', () => {
    const e = openError(rawFile({ w: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, eightBytes))
    expect(e.message).toMatch(/tensor "w": data_offsets \[8, 0\] end before they begin/)
  })

  it('overlapping tensors', () => {
    const e = openError(rawFile({ a: ok, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, eightBytes))
    expect(e.tensor).toBe('b')
    expect(e.message).toMatch(/tensor "b": data_offsets \[4, 8\] overlap tensor "a"/)
  })

  it('a gap between tensors', () => {
    const e = openError(rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, new Uint8Array(12)))
    expect(e.message).toMatch(/tensor "b": data_offsets \[8, 12\] leave a gap/)
  })

  it('truncated data (offsets past the end of the file)', () => {
    const e = openError(rawFile({ a: ok, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, new Uint8Array(12)))
    expect(e.tensor).toBe('b')
    expect(e.message).toMatch(/tensor "b": data_offsets \[8, 16\] run past the end of the data \(12 bytes\): the file is truncated/)
  })

  it('data left over after the last tensor', () => {
    expect(openError(rawFile({ w: ok }, new Uint8Array(12))).message).toMatch(/describes 8 bytes of data but the file holds 12/)
  })

  it('metadata that is not strings', () => {
    expect(openError(rawFile({ __metadata__: { n: 1 }, w: ok }, eightBytes)).message).toMatch(/__metadata__ must map strings to strings/)
  })

  it('a dtype it knows but cannot read as floats, named when read', () => {
    const file = rawFile({ w: { dtype: 'F8_E4M3', shape: [8], data_offsets: [0, 8] } }, eightBytes)
    expect(readSafetensorsHeader(file).tensors.get('w')?.dtype).toBe('F8_E4M3')
    expect(() => readSafetensors(file)).toThrow(new RegExp(`${file}: tensor "w": dtype F8_E4M3 cannot be read`))
  })

  it('a missing file', () => {
    expect(openError(join(dir, 'nope.safetensors')).message).toMatch(/cannot open/)
  })

  it('the writer refuses data that does not fill its shape', () => {
    const file = path()
    expect(() => writeSafetensors(file, [{ name: 'w', shape: [2, 2], data: new Float32Array(3) }], { dtype: 'F32' })).toThrow(
      new RegExp(`${file}: tensor "w": shape \\[2, 2\\] needs 4 values, got 3`),
    )
  })
})
