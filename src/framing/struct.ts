/**
 * Packed binary structs, laid out like a C struct under `#pragma pack(1)`: fields follow each
 * other with no padding, in the order given, with an explicit byte order.
 *
 * @module
 */

import { show, stackless } from "./_internal.ts";
import { MalformedFrameError } from "./errors.ts";

/**
 * Byte order of a struct or field: little endian (x86, the in-memory layout a C program on
 * Windows sends) or big endian (network order).
 *
 * @example
 * ```ts
 * const endian: Endian = "be";
 * ```
 */
export type Endian = "le" | "be";

/**
 * Field types that span several bytes and so have a byte order.
 *
 * @example
 * ```ts
 * const type: MultiByteType = "u32";
 * ```
 */
export type MultiByteType =
  | "u16"
  | "i16"
  | "u32"
  | "i32"
  | "u64"
  | "i64"
  | "f32"
  | "f64";

/**
 * The type of a struct field.
 *
 * - `u8 i8 u16 i16 u32 i32`: integers, as `number`;
 * - `u64 i64`: 64-bit integers, as `bigint`;
 * - `f32 f64`: IEEE 754 floats, as `number`;
 * - `bool`: one byte, 0 is false, anything else true;
 * - `char[N]`: a string of up to N UTF-8 bytes, NUL-padded;
 * - `bytes[N]`: N raw bytes, as a `Uint8Array`.
 *
 * A multi-byte type takes the struct's byte order, unless it ends in `le` or `be`
 * (`"u32be"`).
 *
 * @example
 * ```ts
 * const types: FieldType[] = ["u16", "f32", "u32be", "char[16]", "bytes[4]", "bool"];
 * ```
 */
export type FieldType =
  | "u8"
  | "i8"
  | "bool"
  | MultiByteType
  | `${MultiByteType}${Endian}`
  | `char[${number}]`
  | `bytes[${number}]`;

/**
 * The fields of a struct: names to types, in layout order.
 *
 * @example
 * ```ts
 * const fields: StructFields = { size: "u16", id: "u16", x: "f32", name: "char[16]" };
 * ```
 */
export type StructFields = { readonly [name: string]: FieldType };

/**
 * The JavaScript type of a field's value.
 *
 * @example
 * ```ts
 * const id: FieldValue<"u64"> = 1n;
 * const name: FieldValue<"char[8]"> = "bob";
 * ```
 */
export type FieldValue<T extends FieldType> = T extends `${"u64" | "i64"}${"" | Endian}` ? bigint
  : T extends "bool" ? boolean
  : T extends `char[${number}]` ? string
  : T extends `bytes[${number}]` ? Uint8Array
  : number;

/**
 * A decoded struct: every field with its value.
 *
 * @example
 * ```ts
 * const value: StructValue<{ id: "u16"; ok: "bool" }> = { id: 7, ok: true };
 * ```
 */
export type StructValue<F extends StructFields> = {
  -readonly [K in keyof F]: FieldValue<F[K]>;
};

/**
 * The input of `encode`: any subset of the fields. A missing field is written as zeros, as
 * after C's `ZeroMemory`.
 *
 * @example
 * ```ts
 * const input: StructInput<{ id: "u16"; hp: "i32" }> = { id: 7 };
 * ```
 */
export type StructInput<F extends StructFields> = {
  [K in keyof F]?: FieldValue<F[K]>;
};

/**
 * Where a field lies in a struct.
 *
 * @example
 * ```ts
 * const field: FieldLayout = { name: "x", type: "f32", offset: 4, size: 4, endian: "le" };
 * ```
 */
export interface FieldLayout {
  /** The field's name. */
  readonly name: string;
  /** The field's type, as given. */
  readonly type: FieldType;
  /** Offset from the start of the struct, in bytes. */
  readonly offset: number;
  /** Size in bytes. */
  readonly size: number;
  /** Byte order (irrelevant for one-byte fields and arrays). */
  readonly endian: Endian;
}

/**
 * Options of {@linkcode defineStruct}.
 *
 * @example
 * ```ts
 * const options: StructOptions = { endian: "be" };
 * ```
 */
export interface StructOptions {
  /** Byte order of multi-byte fields without their own suffix. Default `"le"`. */
  endian?: Endian;
}

/**
 * A packed struct type: its layout, and functions that read and write it through a
 * `DataView`.
 *
 * @example
 * ```ts
 * import { defineStruct } from "./struct.ts";
 * const Point = defineStruct({ x: "i32", y: "i32" });
 * const bytes = Point.encode({ x: 1, y: -1 });
 * console.log(Point.sizeof, Point.decode(bytes)); // 8 { x: 1, y: -1 }
 * ```
 */
export interface Struct<F extends StructFields> {
  /** The size in bytes, like C's `sizeof` under `#pragma pack(1)`. */
  readonly sizeof: number;
  /** The default byte order. */
  readonly endian: Endian;
  /** The fields in layout order. */
  readonly layout: readonly FieldLayout[];
  /** The offset of a field. */
  offsetOf(name: keyof F & string): number;
  /**
   * Reads a struct from `bytes` at `offset` (default 0). Throws a `MalformedFrameError`
   * (reason `"short"`) when fewer than `sizeof` bytes are there. Byte arrays are copied.
   */
  decode(bytes: Uint8Array, offset?: number): StructValue<F>;
  /** Writes a struct into a new buffer of `sizeof` bytes. */
  encode(value: StructInput<F>): Uint8Array;
  /** Writes a struct into `target` at `offset` (default 0). */
  encodeInto(value: StructInput<F>, target: Uint8Array, offset?: number): void;
  /** Reads one field of the struct that starts at `offset` (default 0) in `bytes`. */
  get<K extends keyof F & string>(
    bytes: Uint8Array,
    name: K,
    offset?: number,
  ): FieldValue<F[K]>;
  /** Writes one field of the struct that starts at `offset` (default 0) in `bytes`. */
  set<K extends keyof F & string>(
    bytes: Uint8Array,
    name: K,
    value: FieldValue<F[K]>,
    offset?: number,
  ): void;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

const KIND_INT = 0;
const KIND_BIG = 1;
const KIND_FLOAT = 2;
const KIND_BOOL = 3;
const KIND_CHAR = 4;
const KIND_BYTES = 5;

interface Field extends FieldLayout {
  readonly kind: number;
  /** Integer range, for KIND_INT and KIND_BIG. */
  readonly min: number | bigint;
  readonly max: number | bigint;
  readonly signed: boolean;
  readonly le: boolean;
}

const INT_RANGES: Record<string, [number, number, boolean]> = {
  u8: [0, 0xff, false],
  i8: [-0x80, 0x7f, true],
  u16: [0, 0xffff, false],
  i16: [-0x8000, 0x7fff, true],
  u32: [0, 0xffffffff, false],
  i32: [-0x80000000, 0x7fffffff, true],
};

const MAX_ARRAY = 0x7fffffff;

function parseField(
  name: string,
  type: unknown,
  offset: number,
  endian: Endian,
): Field {
  if (typeof type !== "string") {
    throw new TypeError(
      `Field ${name} must have a type string, got ${show(type)}`,
    );
  }
  const array = /^(char|bytes)\[(\d+)\]$/.exec(type);
  if (array !== null) {
    const n = Number(array[2]);
    if (n < 1 || n > MAX_ARRAY) {
      throw new RangeError(
        `Field ${name} has a bad array length in ${JSON.stringify(type)}`,
      );
    }
    return {
      name,
      type: type as FieldType,
      offset,
      size: n,
      endian,
      kind: array[1] === "char" ? KIND_CHAR : KIND_BYTES,
      min: 0,
      max: 0,
      signed: false,
      le: endian === "le",
    };
  }
  const m = /^(u8|i8|bool|u16|i16|u32|i32|u64|i64|f32|f64)(le|be)?$/.exec(type);
  if (
    m === null ||
    (m[2] !== undefined && (m[1] === "u8" || m[1] === "i8" || m[1] === "bool"))
  ) {
    throw new TypeError(
      `Field ${name} has an unknown type ${
        JSON.stringify(type)
      }; expected u8, i8, u16, i16, u32, i32, u64, i64, f32, f64, bool, char[N] or bytes[N]`,
    );
  }
  const base = m[1];
  const fieldEndian = (m[2] as Endian | undefined) ?? endian;
  const common = {
    name,
    type: type as FieldType,
    offset,
    endian: fieldEndian,
    le: fieldEndian === "le",
  };
  if (base === "bool") {
    return {
      ...common,
      size: 1,
      kind: KIND_BOOL,
      min: 0,
      max: 1,
      signed: false,
    };
  }
  if (base === "f32" || base === "f64") {
    return {
      ...common,
      size: base === "f32" ? 4 : 8,
      kind: KIND_FLOAT,
      min: 0,
      max: 0,
      signed: false,
    };
  }
  if (base === "u64") {
    return {
      ...common,
      size: 8,
      kind: KIND_BIG,
      min: 0n,
      max: 2n ** 64n - 1n,
      signed: false,
    };
  }
  if (base === "i64") {
    return {
      ...common,
      size: 8,
      kind: KIND_BIG,
      min: -(2n ** 63n),
      max: 2n ** 63n - 1n,
      signed: true,
    };
  }
  const [min, max, signed] = INT_RANGES[base];
  return {
    ...common,
    size: Number(base.slice(1)) / 8,
    kind: KIND_INT,
    min,
    max,
    signed,
  };
}

function readField(
  f: Field,
  dv: DataView,
  bytes: Uint8Array,
  at: number,
): unknown {
  const o = at + f.offset;
  switch (f.kind) {
    case KIND_INT:
      switch (f.size) {
        case 1:
          return f.signed ? dv.getInt8(o) : dv.getUint8(o);
        case 2:
          return f.signed ? dv.getInt16(o, f.le) : dv.getUint16(o, f.le);
        default:
          return f.signed ? dv.getInt32(o, f.le) : dv.getUint32(o, f.le);
      }
    case KIND_BIG:
      return f.signed ? dv.getBigInt64(o, f.le) : dv.getBigUint64(o, f.le);
    case KIND_FLOAT:
      return f.size === 4 ? dv.getFloat32(o, f.le) : dv.getFloat64(o, f.le);
    case KIND_BOOL:
      return dv.getUint8(o) !== 0;
    case KIND_CHAR: {
      const raw = bytes.subarray(o, o + f.size);
      const nul = raw.indexOf(0);
      return utf8Decoder.decode(nul < 0 ? raw : raw.subarray(0, nul));
    }
    default:
      // A copy (Node's Buffer#slice would return a view).
      return new Uint8Array(bytes.subarray(o, o + f.size));
  }
}

function writeField(
  f: Field,
  dv: DataView,
  bytes: Uint8Array,
  at: number,
  value: unknown,
): void {
  const o = at + f.offset;
  switch (f.kind) {
    case KIND_INT: {
      const v = value === undefined ? 0 : value;
      if (typeof v !== "number") {
        throw new TypeError(`Field ${f.name} expects a number, got ${show(v)}`);
      }
      if (
        !Number.isInteger(v) || v < (f.min as number) || v > (f.max as number)
      ) {
        throw new RangeError(
          `Field ${f.name} must be an integer from ${f.min} to ${f.max} (${f.type}), got ${v}`,
        );
      }
      switch (f.size) {
        case 1:
          dv.setUint8(o, v & 0xff);
          return;
        case 2:
          dv.setUint16(o, v & 0xffff, f.le);
          return;
        default:
          dv.setUint32(o, v >>> 0, f.le);
          return;
      }
    }
    case KIND_BIG: {
      const v = value === undefined ? 0n : value;
      if (typeof v !== "bigint") {
        throw new TypeError(`Field ${f.name} expects a bigint, got ${show(v)}`);
      }
      if (v < (f.min as bigint) || v > (f.max as bigint)) {
        throw new RangeError(
          `Field ${f.name} must be from ${f.min} to ${f.max} (${f.type}), got ${v}`,
        );
      }
      if (f.signed) dv.setBigInt64(o, v, f.le);
      else dv.setBigUint64(o, v, f.le);
      return;
    }
    case KIND_FLOAT: {
      const v = value === undefined ? 0 : value;
      if (typeof v !== "number") {
        throw new TypeError(`Field ${f.name} expects a number, got ${show(v)}`);
      }
      if (f.size === 4) dv.setFloat32(o, v, f.le);
      else dv.setFloat64(o, v, f.le);
      return;
    }
    case KIND_BOOL: {
      const v = value === undefined ? false : value;
      if (typeof v !== "boolean") {
        throw new TypeError(
          `Field ${f.name} expects a boolean, got ${show(v)}`,
        );
      }
      dv.setUint8(o, v ? 1 : 0);
      return;
    }
    case KIND_CHAR: {
      const v = value === undefined ? "" : value;
      if (typeof v !== "string") {
        throw new TypeError(`Field ${f.name} expects a string, got ${show(v)}`);
      }
      if (v.includes("\0")) {
        throw new RangeError(
          `Field ${f.name} must not contain a NUL character, got ${JSON.stringify(v)}`,
        );
      }
      const encoded = utf8Encoder.encode(v);
      if (encoded.length > f.size) {
        throw new RangeError(
          `Field ${f.name} holds at most ${f.size} bytes (${f.type}), got a string of ${encoded.length} UTF-8 bytes`,
        );
      }
      bytes.set(encoded, o);
      bytes.fill(0, o + encoded.length, o + f.size);
      return;
    }
    default: {
      const v = value === undefined ? new Uint8Array(0) : value;
      if (!(v instanceof Uint8Array)) {
        throw new TypeError(
          `Field ${f.name} expects a Uint8Array, got ${show(v)}`,
        );
      }
      if (v.length > f.size) {
        throw new RangeError(
          `Field ${f.name} holds at most ${f.size} bytes (${f.type}), got ${v.length} bytes`,
        );
      }
      bytes.set(v, o);
      bytes.fill(0, o + v.length, o + f.size);
    }
  }
}

function checkOffset(offset: unknown): number {
  if (offset === undefined) return 0;
  if (
    typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0
  ) {
    throw new RangeError(
      `Offset must be a non-negative integer, got ${show(offset)}`,
    );
  }
  return offset;
}

class StructImpl<F extends StructFields> implements Struct<F> {
  readonly sizeof: number;
  readonly endian: Endian;
  readonly layout: readonly FieldLayout[];
  readonly #fields: readonly Field[];
  readonly #byName: Map<string, Field>;

  constructor(fields: readonly Field[], sizeof: number, endian: Endian) {
    this.#fields = fields;
    this.#byName = new Map(fields.map((f) => [f.name, f]));
    this.sizeof = sizeof;
    this.endian = endian;
    this.layout = Object.freeze(
      fields.map((f) =>
        Object.freeze({
          name: f.name,
          type: f.type,
          offset: f.offset,
          size: f.size,
          endian: f.endian,
        })
      ),
    );
  }

  #field(name: unknown): Field {
    const f = typeof name === "string" ? this.#byName.get(name) : undefined;
    if (f === undefined) {
      throw new TypeError(`Struct has no field ${show(name)}`);
    }
    return f;
  }

  /** A DataView of the struct at `offset` in `bytes`, after a bounds check. */
  #dataView(bytes: Uint8Array, offset: number): DataView {
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError(`Bytes must be a Uint8Array, got ${show(bytes)}`);
    }
    if (bytes.length - offset < this.sizeof) {
      throw stackless(() =>
        new MalformedFrameError(
          "short",
          `Packet of ${Math.max(0, bytes.length - offset)} bytes is shorter than the struct's ${this.sizeof} bytes`,
        )
      );
    }
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  offsetOf(name: keyof F & string): number {
    return this.#field(name).offset;
  }

  decode(bytes: Uint8Array, offset?: number): StructValue<F> {
    const at = checkOffset(offset);
    const dv = this.#dataView(bytes, at);
    const value: Record<string, unknown> = {};
    for (const f of this.#fields) value[f.name] = readField(f, dv, bytes, at);
    return value as StructValue<F>;
  }

  encode(value: StructInput<F>): Uint8Array {
    const bytes = new Uint8Array(this.sizeof);
    this.encodeInto(value, bytes, 0);
    return bytes;
  }

  encodeInto(value: StructInput<F>, target: Uint8Array, offset?: number): void {
    if (value === null || typeof value !== "object") {
      throw new TypeError(`Struct value must be an object, got ${show(value)}`);
    }
    const at = checkOffset(offset);
    const dv = this.#dataView(target, at);
    for (const key of Object.keys(value)) this.#field(key);
    const record = value as Record<string, unknown>;
    for (const f of this.#fields) writeField(f, dv, target, at, record[f.name]);
  }

  get<K extends keyof F & string>(
    bytes: Uint8Array,
    name: K,
    offset?: number,
  ): FieldValue<F[K]> {
    const f = this.#field(name);
    const at = checkOffset(offset);
    return readField(f, this.#dataView(bytes, at), bytes, at) as FieldValue<
      F[K]
    >;
  }

  set<K extends keyof F & string>(
    bytes: Uint8Array,
    name: K,
    value: FieldValue<F[K]>,
    offset?: number,
  ): void {
    const f = this.#field(name);
    const at = checkOffset(offset);
    writeField(f, this.#dataView(bytes, at), bytes, at, value);
  }
}

/**
 * Defines a packed struct, laid out like C's `#pragma pack(1)`: the fields follow each other
 * in the order given, with no padding, so `sizeof` is the sum of the field sizes. Values are
 * read and written through a `DataView` with an explicit byte order (`endian`, default
 * `"le"`, the layout of a struct in memory on x86; a field may override it with a `le` or
 * `be` suffix).
 *
 * Writing checks every value: a wrong type is a `TypeError`, an integer out of its type's
 * range or a string too long for its `char[N]` a `RangeError`. Missing fields are zeros.
 * Reading fewer than `sizeof` bytes is a `MalformedFrameError` (reason `"short"`). Field
 * names that look like array indices are rejected (JavaScript would reorder them).
 *
 * @example
 * ```ts
 * import { defineStruct } from "./struct.ts";
 * // #pragma pack(1)
 * // struct Move { uint16_t size; uint16_t id; float x; float y; char name[16]; };
 * const Move = defineStruct({ size: "u16", id: "u16", x: "f32", y: "f32", name: "char[16]" });
 * console.log(Move.sizeof); // 28
 * const bytes = Move.encode({ size: Move.sizeof, id: 3, x: 1.5, y: -2, name: "bob" });
 * console.log(Move.decode(bytes).name); // "bob"
 * ```
 */
export function defineStruct<const F extends StructFields>(
  fields: F,
  options?: StructOptions,
): Struct<F> {
  if (fields === null || typeof fields !== "object" || Array.isArray(fields)) {
    throw new TypeError(`Struct fields must be an object, got ${show(fields)}`);
  }
  if (
    options !== undefined && (options === null || typeof options !== "object")
  ) {
    throw new TypeError(
      `Options of defineStruct() must be an object, got ${show(options)}`,
    );
  }
  for (const key of Object.keys(options ?? {})) {
    if (key !== "endian") {
      throw new TypeError(
        `Unknown option ${JSON.stringify(key)} for defineStruct(); expected endian`,
      );
    }
  }
  const endian = options?.endian ?? "le";
  if (endian !== "le" && endian !== "be") {
    throw new RangeError(
      `Option endian must be "le" or "be", got ${show(endian)}`,
    );
  }
  const parsed: Field[] = [];
  let offset = 0;
  for (const name of Object.keys(fields)) {
    if (/^(0|[1-9]\d*)$/.test(name)) {
      throw new TypeError(
        `Field name ${JSON.stringify(name)} looks like an array index; use a name that starts with a letter`,
      );
    }
    const f = parseField(name, fields[name], offset, endian);
    parsed.push(f);
    offset += f.size;
  }
  if (parsed.length === 0) {
    throw new RangeError("Struct must have at least one field, got none");
  }
  if (offset > MAX_ARRAY) {
    throw new RangeError(`Struct size ${offset} exceeds ${MAX_ARRAY} bytes`);
  }
  return new StructImpl<F>(parsed, offset, endian);
}
