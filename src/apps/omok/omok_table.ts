/**
 * Two-player omok over the network (seed 001's exercise), as an application on any peer
 * host. The protocol is text, one line per message, and works with `nc`.
 *
 * Seating: the first client to connect plays black and moves first, the second white; turns
 * alternate. Further clients spectate, in a queue, and take the next free seat. When a game
 * ends the players swap colours and the next game starts at once.
 *
 * A player who disconnects during a game has a grace period to come back (a new connection
 * that sends `RESUME <token>`, the token its `ROLE` line gave it); after it, the player
 * forfeits. A player who sends `QUIT` forfeits at once.
 *
 * Client to server: a point such as `h8` (or `MOVE h8`), `BOARD`, `HELP`, `RESUME <token>`,
 * `QUIT`. Server to client, each line starting with its keyword:
 *
 * - `INFO <text>`: for people;
 * - `ROLE black <token>`, `ROLE white <token>`, `ROLE spectator`;
 * - `WAIT <text>`: a seat is waiting for a player;
 * - `START <game>`, then `BOARD <rows>` (15 rows from row 15 down to row 1, joined by `/`,
 *   `.` empty, `X` black, `O` white) and `TURN black`;
 * - `MOVE <stone> <point>`, then `TURN <stone>` or `OVER …`;
 * - `ERROR <reason>`: the move or command was rejected, and nothing changed;
 * - `AWAY <stone> <seconds>` and `BACK <stone>`: a player left during the game, and returned;
 * - `OVER <stone> five <points…>`, `OVER <stone> wins-by-forfeit`, `OVER draw full`.
 *
 * See `omok_board.ts` for the rule about rows longer than five.
 *
 * @module
 */

import type { AppLog } from "../app_log.ts";
import { formatPoint, OMOK_SIZE, OmokBoard, otherStone, parsePoint, type Stone } from "./omok_board.ts";
import type { Peer, PeerApp } from "../../hosts/types.ts";
import { encodeLine } from "../text_lines.ts";

/**
 * Options of {@linkcode OmokTable}.
 *
 * @example
 * ```ts
 * const options: OmokTableOptions = { graceMs: 30_000 };
 * ```
 */
export interface OmokTableOptions {
  /** How long a player who disconnected during a game may take to come back. Default 30 s. */
  graceMs?: number;
  /** Receives a record for every seating, game start, move and result. */
  onLog?: AppLog;
}

/**
 * The rule about rows longer than five, as the server states it to every client.
 *
 * @example
 * ```ts
 * console.log(OMOK_RULE);
 * ```
 */
export const OMOK_RULE = "Exactly five in a row wins, for both colours; an overline of six or more does not win";

interface Seat {
  stone: Stone;
  peer: Peer | undefined;
  token: string;
  away: ReturnType<typeof setTimeout> | undefined;
}

/**
 * The longest line a client may send to the omok server, and the longest it sends.
 *
 * @example
 * ```ts
 * console.log(MAX_OMOK_LINE); // 256
 * ```
 */
export const MAX_OMOK_LINE = 256;

const decoder = new TextDecoder();
const HELP = [
  "INFO Type a point such as h8 to play (columns a to o, rows 1 to 15, a1 at the bottom left).",
  "INFO Other commands: BOARD (show the board), RESUME <token> (take your seat back), QUIT (give up), HELP.",
];

function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The omok table: two seats, a queue of spectators, and the game.
 *
 * @example
 * ```ts
 * import { delimited } from "sockmodels/framing";
 * import { startHost } from "sockmodels/hosts";
 * const table = new OmokTable({ graceMs: 10_000 });
 * const host = await startHost("engine", { port: 9001, codec: delimited(), app: table });
 * ```
 */
export class OmokTable implements PeerApp {
  readonly #graceMs: number;
  readonly #log: AppLog | undefined;
  readonly #seats: Record<Stone, Seat>;
  readonly #spectators: Peer[] = [];
  readonly #everyone = new Set<Peer>();
  #board = new OmokBoard();
  #turn: Stone = "black";
  #playing = false;
  #games = 0;

  constructor(options: OmokTableOptions = {}) {
    this.#graceMs = options.graceMs ?? 30_000;
    if (!(this.#graceMs >= 0) || !Number.isFinite(this.#graceMs)) {
      throw new RangeError(`Grace period must be a non-negative number of milliseconds, got ${options.graceMs}`);
    }
    this.#log = options.onLog;
    this.#seats = {
      black: { stone: "black", peer: undefined, token: "", away: undefined },
      white: { stone: "white", peer: undefined, token: "", away: undefined },
    };
  }

  /** Whether a game is being played. */
  get playing(): boolean {
    return this.#playing;
  }

  /** How many games have started. */
  get games(): number {
    return this.#games;
  }

  onOpen(peer: Peer): void {
    this.#everyone.add(peer);
    this.#tell(peer, `INFO Welcome to omok on a ${OMOK_SIZE}x${OMOK_SIZE} board. ${OMOK_RULE}.`);
    for (const line of HELP) this.#tell(peer, line);
    const seat = this.#freeSeat();
    if (seat) {
      this.#sit(peer, seat);
      this.#startIfReady();
    } else {
      this.#spectators.push(peer);
      this.#tell(peer, "ROLE spectator");
      this.#tell(peer, "INFO Both seats are taken: you are watching, and you take the next free seat");
      if (this.#playing) this.#showGame(peer);
    }
  }

  onFrame(peer: Peer, frame: Uint8Array): void {
    const text = decoder.decode(frame).trim();
    if (text === "") return;
    const [word, ...rest] = text.split(/\s+/);
    switch (word.toUpperCase()) {
      case "HELP":
        for (const line of HELP) this.#tell(peer, line);
        return;
      case "BOARD":
        if (this.#playing) this.#showGame(peer);
        else this.#tell(peer, "INFO No game is being played");
        return;
      case "RESUME":
        return this.#resume(peer, rest[0] ?? "");
      case "QUIT":
        this.#tell(peer, "INFO Bye");
        this.#leave(peer, true);
        peer.close();
        return;
      case "MOVE":
        return this.#move(peer, rest.join(" "));
      default:
        return this.#move(peer, text);
    }
  }

  onFrameError(peer: Peer, error: Error): void {
    this.#tell(peer, `ERROR ${error.message}; closing the connection`);
    this.#leave(peer, false);
  }

  onClose(peer: Peer): void {
    this.#leave(peer, false);
  }

  onIdle(peer: Peer, idleMs: number): void {
    this.#tell(peer, `INFO You sent nothing for ${Math.round(idleMs / 1000)} s; closing the connection`);
  }

  /** Cancels the grace timers of absent players. */
  close(): void {
    for (const seat of Object.values(this.#seats)) {
      clearTimeout(seat.away);
      seat.away = undefined;
    }
  }

  #seatOf(peer: Peer): Seat | undefined {
    for (const seat of Object.values(this.#seats)) if (seat.peer === peer) return seat;
    return undefined;
  }

  /** A seat that nobody holds, not even an absent player: black first. */
  #freeSeat(): Seat | undefined {
    for (const stone of ["black", "white"] as const) {
      const seat = this.#seats[stone];
      if (seat.peer === undefined && seat.away === undefined) return seat;
    }
    return undefined;
  }

  #sit(peer: Peer, seat: Seat, announceWait = true): void {
    seat.peer = peer;
    seat.token = newToken();
    this.#tell(peer, `ROLE ${seat.stone} ${seat.token}`);
    this.#tell(
      peer,
      `INFO You play ${seat.stone} (${seat.stone === "black" ? "X" : "O"})${
        seat.stone === "black" ? " and move first" : ""
      }`,
    );
    this.#log?.({ event: "seat", message: `client #${peer.id} plays ${seat.stone}`, peer: peer.id, stone: seat.stone });
    if (announceWait && !this.#playing && this.#seats[otherStone(seat.stone)].peer === undefined) {
      this.#tell(peer, "WAIT Waiting for an opponent");
    }
  }

  #startIfReady(): void {
    if (this.#playing || !this.#seats.black.peer || !this.#seats.white.peer) return;
    this.#board = new OmokBoard();
    this.#turn = "black";
    this.#playing = true;
    this.#games++;
    this.#all(`START ${this.#games}`);
    for (const peer of this.#everyone) this.#showGame(peer);
    this.#log?.({
      event: "game-start",
      message: `game ${this.#games} starts: black #${this.#seats.black.peer.id}, white #${this.#seats.white.peer.id}`,
      game: this.#games,
    });
  }

  #showGame(peer: Peer): void {
    this.#tell(peer, `BOARD ${this.#board.rows().join("/")}`);
    this.#tell(peer, `TURN ${this.#turn}`);
  }

  #move(peer: Peer, text: string): void {
    const seat = this.#seatOf(peer);
    if (!seat) return this.#tell(peer, "ERROR Spectators cannot move: you take the next free seat");
    if (!this.#playing) return this.#tell(peer, "ERROR The game has not started: waiting for an opponent");
    if (seat.stone !== this.#turn) return this.#tell(peer, `ERROR It is ${this.#turn}'s turn, not yours`);
    let result;
    let point;
    try {
      point = parsePoint(text);
      result = this.#board.place(seat.stone, point);
    } catch (error) {
      return this.#tell(peer, `ERROR ${(error as Error).message}`);
    }
    const where = formatPoint(point);
    this.#all(`MOVE ${seat.stone} ${where}`);
    this.#log?.({
      event: "move",
      message: `${seat.stone} plays ${where}`,
      game: this.#games,
      stone: seat.stone,
      point: where,
    });
    if (result.five) return this.#over(`${seat.stone} five ${result.five.map(formatPoint).join(" ")}`);
    if (result.full) return this.#over("draw full");
    this.#turn = otherStone(this.#turn);
    this.#all(`TURN ${this.#turn}`);
  }

  #resume(peer: Peer, token: string): void {
    const seat = Object.values(this.#seats).find((s) => s.away !== undefined && s.token !== "" && s.token === token);
    if (!seat) return this.#tell(peer, "ERROR No seat is waiting for that token");
    if (this.#seatOf(peer)) return this.#tell(peer, "ERROR You already have a seat");
    clearTimeout(seat.away);
    seat.away = undefined;
    const queued = this.#spectators.indexOf(peer);
    if (queued >= 0) this.#spectators.splice(queued, 1);
    seat.peer = peer;
    this.#tell(peer, `ROLE ${seat.stone} ${seat.token}`);
    this.#all(`BACK ${seat.stone}`);
    this.#showGame(peer);
    this.#log?.({
      event: "back",
      message: `${seat.stone} is back as client #${peer.id}`,
      stone: seat.stone,
      peer: peer.id,
    });
  }

  /** A client is gone (or gave up): spectators leave the queue, players forfeit or go away. */
  #leave(peer: Peer, givingUp: boolean): void {
    if (!this.#everyone.delete(peer)) return;
    const queued = this.#spectators.indexOf(peer);
    if (queued >= 0) this.#spectators.splice(queued, 1);
    const seat = this.#seatOf(peer);
    if (!seat) return;
    seat.peer = undefined;
    if (!this.#playing) {
      this.#vacate(seat);
      return;
    }
    if (givingUp || this.#graceMs === 0) {
      this.#forfeit(seat);
      return;
    }
    this.#all(`AWAY ${seat.stone} ${Math.ceil(this.#graceMs / 1000)}`);
    this.#all(`INFO ${seat.stone} left; ${seat.stone} forfeits unless it is back within ${this.#graceMs} ms`);
    this.#log?.({ event: "away", message: `${seat.stone} disconnected during game ${this.#games}`, stone: seat.stone });
    seat.away = setTimeout(() => {
      seat.away = undefined;
      this.#forfeit(seat);
    }, this.#graceMs);
  }

  #forfeit(seat: Seat): void {
    this.#over(`${otherStone(seat.stone)} wins-by-forfeit`);
  }

  /** Ends the game, then swaps colours and seats spectators in empty seats for the next one. */
  #over(result: string): void {
    this.#playing = false;
    this.#all(`OVER ${result}`);
    this.#log?.({ event: "game-over", message: `game ${this.#games} is over: ${result}`, game: this.#games, result });
    for (const seat of Object.values(this.#seats)) {
      clearTimeout(seat.away);
      seat.away = undefined;
    }
    const black = this.#seats.black.peer;
    const white = this.#seats.white.peer;
    this.#seats.black.peer = undefined;
    this.#seats.white.peer = undefined;
    if (white) this.#sit(white, this.#seats.black, false);
    if (black) this.#sit(black, this.#seats.white, false);
    for (const seat of Object.values(this.#seats)) this.#vacate(seat);
    this.#startIfReady();
  }

  /** Gives an empty seat to the first spectator in line, or waits for someone. */
  #vacate(seat: Seat): void {
    if (seat.peer !== undefined || seat.away !== undefined) return;
    const next = this.#spectators.shift();
    if (next) {
      this.#sit(next, seat);
      this.#startIfReady();
    } else {
      seat.token = "";
      const other = this.#seats[otherStone(seat.stone)].peer;
      if (other && !this.#playing) this.#tell(other, "WAIT Waiting for an opponent");
    }
  }

  #tell(peer: Peer, line: string): void {
    peer.send(encodeLine(line, MAX_OMOK_LINE));
  }

  #all(line: string): void {
    const frame = encodeLine(line, MAX_OMOK_LINE);
    for (const peer of this.#everyone) peer.send(frame);
  }
}
