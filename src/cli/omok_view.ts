/**
 * What `sockmodels client omok` shows: the state of the game as the server's lines describe
 * it, and the board drawn as text.
 *
 * @module
 */

import { OMOK_SIZE } from "../apps/omok/omok_board.ts";

const COLUMNS = "abcdefghijklmno";

/**
 * The client's picture of the game.
 *
 * @example
 * ```ts
 * const view = new OmokView();
 * view.apply("ROLE black 0123abcd");
 * view.apply("START 1");
 * console.log(view.render());
 * ```
 */
export class OmokView {
  /** Rows from row 15 (top) to row 1, `.` `X` `O`. */
  rows: string[] = Array.from({ length: OMOK_SIZE }, () => ".".repeat(OMOK_SIZE));
  /** This client's role: black, white or spectator (empty until the server says). */
  role = "";
  /** The token to take a seat back with `RESUME`. */
  token = "";
  /** Whose turn it is, while a game runs. */
  turn = "";
  /** The last move, such as `h8`. */
  lastMove = "";
  /** The latest news: the result, an error, a waiting notice. */
  status = "";
  /** Messages for people (INFO lines), newest last, at most 5. */
  notes: string[] = [];

  /**
   * Takes one line from the server. Returns true when the picture changed and should be
   * drawn again.
   */
  apply(line: string): boolean {
    const space = line.indexOf(" ");
    const word = space < 0 ? line : line.slice(0, space);
    const rest = space < 0 ? "" : line.slice(space + 1);
    const parts = rest.split(" ");
    switch (word) {
      case "ROLE":
        this.role = parts[0] ?? "";
        this.token = parts[1] ?? "";
        return true;
      case "START":
        this.rows = Array.from({ length: OMOK_SIZE }, () => ".".repeat(OMOK_SIZE));
        this.lastMove = "";
        this.status = `Game ${rest} started`;
        return true;
      case "BOARD": {
        const rows = rest.split("/");
        if (rows.length === OMOK_SIZE && rows.every((r) => r.length === OMOK_SIZE)) this.rows = rows;
        return true;
      }
      case "MOVE": {
        const [stone, point] = parts;
        const col = COLUMNS.indexOf(point?.[0] ?? "");
        const row = Number(point?.slice(1)) - 1;
        if (col >= 0 && row >= 0 && row < OMOK_SIZE) {
          const i = OMOK_SIZE - 1 - row;
          const r = this.rows[i];
          this.rows[i] = r.slice(0, col) + (stone === "black" ? "X" : "O") + r.slice(col + 1);
          this.lastMove = point;
        }
        return true;
      }
      case "TURN":
        this.turn = rest;
        return true;
      case "OVER":
        this.turn = "";
        this.status = parts[0] === "draw"
          ? "Game over: a draw, the board is full"
          : parts[1] === "wins-by-forfeit"
          ? `Game over: ${parts[0]} wins, the other player forfeited`
          : `Game over: ${parts[0]} wins with five in a row (${parts.slice(2).join(" ")})`;
        return true;
      case "ERROR":
        this.status = `Rejected: ${rest}`;
        return true;
      case "WAIT":
        this.status = rest;
        return true;
      case "AWAY":
        this.status = `${parts[0]} left; it forfeits unless it is back within ${parts[1]} s`;
        return true;
      case "BACK":
        this.status = `${parts[0]} is back`;
        return true;
      case "INFO":
        this.notes.push(rest);
        if (this.notes.length > 5) this.notes.shift();
        return true;
      default:
        return false;
    }
  }

  /** The board and the status, as lines of text. */
  render(): string {
    const header = "    " + COLUMNS.split("").join(" ");
    const lines = [header];
    for (let i = 0; i < OMOK_SIZE; i++) {
      const row = OMOK_SIZE - i;
      lines.push(`${String(row).padStart(2)}  ${this.rows[i].split("").join(" ")}  ${row}`);
    }
    lines.push(header, "");
    const you = this.role === "black" ? "black (X)" : this.role === "white" ? "white (O)" : this.role;
    if (you) lines.push(`You are ${you}.`);
    if (this.turn) {
      lines.push(
        this.turn === this.role ? `Your move (${this.turn}): type a point such as h8.` : `${this.turn} to move.`,
      );
    }
    if (this.lastMove) lines.push(`Last move: ${this.lastMove}`);
    if (this.status) lines.push(this.status);
    for (const note of this.notes.slice(-3)) lines.push(`  ${note}`);
    return lines.join("\n");
  }
}
