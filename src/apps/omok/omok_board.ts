/**
 * The omok (gomoku) board of seed 001's exercise: 15 x 15 points, black and white stones,
 * and the rule that decides a game.
 *
 * The rule: **exactly five** stones in a row (across, down or diagonally) win, for both
 * colours. A row of six or more (an overline) does not win, and the game goes on; a move
 * that makes an overline in one direction and exactly five in another wins. A full board
 * with no winner is a draw.
 *
 * Points are written as a column letter `a` to `o` and a row number `1` to `15`, as on a
 * chess board: `a1` is the bottom left corner and `h8` the centre.
 *
 * @module
 */

/**
 * A stone colour; black moves first.
 *
 * @example
 * ```ts
 * const first: Stone = "black";
 * ```
 */
export type Stone = "black" | "white";

/**
 * A point of the board, 0-based: column 0 is `a`, row 0 is `1`.
 *
 * @example
 * ```ts
 * const centre: Point = { col: 7, row: 7 }; // h8
 * ```
 */
export interface Point {
  /** 0 (`a`) to 14 (`o`). */
  col: number;
  /** 0 (row `1`) to 14 (row `15`). */
  row: number;
}

/**
 * The board's width and height.
 *
 * @example
 * ```ts
 * console.log(OMOK_SIZE); // 15
 * ```
 */
export const OMOK_SIZE = 15;

const COLUMNS = "abcdefghijklmno";

/**
 * The colour that is not `stone`.
 *
 * @example
 * ```ts
 * console.log(otherStone("black")); // "white"
 * ```
 */
export function otherStone(stone: Stone): Stone {
  return stone === "black" ? "white" : "black";
}

/**
 * Writes a point as the players type it.
 *
 * @example
 * ```ts
 * console.log(formatPoint({ col: 7, row: 7 })); // "h8"
 * ```
 */
export function formatPoint(point: Point): string {
  return `${COLUMNS[point.col]}${point.row + 1}`;
}

/**
 * Reads a point such as `h8` (case does not matter). Throws a RangeError that says what is
 * wrong with the text: not a point at all, or a point off the board.
 *
 * @example
 * ```ts
 * console.log(parsePoint("H8")); // { col: 7, row: 7 }
 * parsePoint("p3"); // throws: Point "p3" is off the board: columns run from a to o and rows from 1 to 15
 * ```
 */
export function parsePoint(text: string): Point {
  const m = /^([a-z])(\d{1,3})$/i.exec(text.trim());
  if (!m) {
    throw new RangeError(`${JSON.stringify(text)} is not a point: type a column a to o and a row 1 to 15, such as h8`);
  }
  const col = m[1].toLowerCase().charCodeAt(0) - 97;
  const row = Number(m[2]) - 1;
  if (col >= OMOK_SIZE || row < 0 || row >= OMOK_SIZE) {
    throw new RangeError(
      `Point ${JSON.stringify(text.trim())} is off the board: columns run from a to o and rows from 1 to 15`,
    );
  }
  return { col, row };
}

/**
 * What a move did.
 *
 * @example
 * ```ts
 * import type { OmokBoard } from "./omok_board.ts";
 * declare const board: OmokBoard;
 * const result: MoveResult = board.place("black", parsePoint("h8"));
 * if (result.five) console.log("black wins along", result.five.map(formatPoint).join(" "));
 * ```
 */
export interface MoveResult {
  /** The winning row of exactly five stones, when the move won. */
  five?: Point[];
  /** True when the board is full and nobody won: a draw. */
  full: boolean;
}

const DIRECTIONS: readonly [number, number][] = [[1, 0], [0, 1], [1, 1], [1, -1]];

/**
 * A 15 x 15 omok board.
 *
 * @example
 * ```ts
 * const board = new OmokBoard();
 * board.place("black", parsePoint("h8"));
 * console.log(board.at(parsePoint("h8"))); // "black"
 * ```
 */
export class OmokBoard {
  readonly #cells: (Stone | undefined)[] = new Array(OMOK_SIZE * OMOK_SIZE);
  #stones = 0;

  /** The stone on a point, if any. */
  at(point: Point): Stone | undefined {
    return this.#cells[point.row * OMOK_SIZE + point.col];
  }

  /** How many stones are on the board. */
  get stones(): number {
    return this.#stones;
  }

  /**
   * Puts a stone on an empty point. Throws a RangeError when the point is taken; the board
   * is then unchanged. Says whether the move made exactly five in a row, or filled the board.
   */
  place(stone: Stone, point: Point): MoveResult {
    const taken = this.at(point);
    if (taken) throw new RangeError(`${formatPoint(point)} is taken by ${taken}`);
    this.#cells[point.row * OMOK_SIZE + point.col] = stone;
    this.#stones++;
    for (const [dc, dr] of DIRECTIONS) {
      const line = [point];
      for (const sign of [1, -1]) {
        for (let i = 1;; i++) {
          const p = { col: point.col + sign * dc * i, row: point.row + sign * dr * i };
          if (p.col < 0 || p.row < 0 || p.col >= OMOK_SIZE || p.row >= OMOK_SIZE || this.at(p) !== stone) break;
          line.push(p);
        }
      }
      // Exactly five: an overline of six or more does not win.
      if (line.length === 5) {
        line.sort((a, b) => a.col - b.col || a.row - b.row);
        return { five: line, full: false };
      }
    }
    return { full: this.#stones === OMOK_SIZE * OMOK_SIZE };
  }

  /**
   * The board as text, one string per row from row 15 (the top) down to row 1: `.` for an
   * empty point, `X` for black, `O` for white.
   */
  rows(): string[] {
    const out: string[] = [];
    for (let row = OMOK_SIZE - 1; row >= 0; row--) {
      let line = "";
      for (let col = 0; col < OMOK_SIZE; col++) {
        const stone = this.at({ col, row });
        line += stone === "black" ? "X" : stone === "white" ? "O" : ".";
      }
      out.push(line);
    }
    return out;
  }
}
