/**
 * Omok: the board's rule (exactly five wins, an overline does not), and full games through
 * `sockmodels serve omok` over real sockets, with illegal moves, a win, a spectator, a
 * disconnect that forfeits after a short grace period, a player who comes back in time, and
 * the terminal client.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { formatPoint, OmokBoard, parsePoint, type Stone } from "../../src/apps/omok/omok_board.ts";
import { startOmokServer } from "../../src/apps/omok/omok_server.ts";
import { OmokView } from "../../src/cli/omok_view.ts";
import { runCli } from "../../src/cli/run_cli.ts";
import { within } from "../helpers/net.ts";
import { LineClient, testIo, waitFor } from "./_helpers.ts";

function play(board: OmokBoard, stone: Stone, ...points: string[]) {
  return points.map((p) => board.place(stone, parsePoint(p))).at(-1)!;
}

describe("the omok board", () => {
  test("exactly five in a row wins, across, down and on both diagonals", () => {
    for (
      const line of [["a1", "b1", "c1", "d1"], ["o11", "o12", "o13", "o14"], ["c3", "d4", "e5", "f6"], [
        "k2",
        "j3",
        "i4",
        "h5",
      ]]
    ) {
      const board = new OmokBoard();
      assert.equal(play(board, "black", ...line).five, undefined, "four is not enough");
      const last = { a1: "e1", o11: "o15", c3: "g7", k2: "g6" }[line[0]]!;
      const result = board.place("black", parsePoint(last));
      assert.deepEqual(result.five?.map(formatPoint).sort(), [...line, last].sort());
    }
  });

  test("an overline of six or more does not win, for either colour", () => {
    for (const stone of ["black", "white"] as const) {
      const board = new OmokBoard();
      play(board, stone, "a1", "b1", "c1", "e1", "f1");
      assert.equal(board.place(stone, parsePoint("d1")).five, undefined, "six in a row is an overline");
      assert.equal(board.place(stone, parsePoint("g1")).five, undefined, "seven is no better");
    }
    // An overline one way and exactly five another way wins.
    const board = new OmokBoard();
    play(board, "black", "a1", "b1", "c1", "e1", "f1", "d2", "d3", "d4", "d5");
    assert.deepEqual(board.place("black", parsePoint("d1")).five?.map(formatPoint), ["d1", "d2", "d3", "d4", "d5"]);
  });

  test("a full board without five is a draw", () => {
    const board = new OmokBoard();
    let last;
    for (let row = 0; row < 15; row++) {
      for (let col = 0; col < 15; col++) {
        last = board.place((col + 2 * row) % 4 < 2 ? "black" : "white", { col, row });
        assert.equal(last.five, undefined);
      }
    }
    assert.equal(last!.full, true);
  });

  test("points are checked, and a taken point is refused without changing the board", () => {
    assert.deepEqual(parsePoint("h8"), { col: 7, row: 7 });
    assert.deepEqual(parsePoint(" O15 "), { col: 14, row: 14 });
    assert.throws(
      () => parsePoint("p3"),
      /^RangeError: Point "p3" is off the board: columns run from a to o and rows from 1 to 15$/,
    );
    assert.throws(() => parsePoint("h16"), /Point "h16" is off the board/);
    assert.throws(() => parsePoint("a0"), /Point "a0" is off the board/);
    assert.throws(
      () => parsePoint("hello"),
      /^RangeError: "hello" is not a point: type a column a to o and a row 1 to 15, such as h8$/,
    );
    const board = new OmokBoard();
    board.place("black", parsePoint("h8"));
    assert.throws(() => board.place("white", parsePoint("h8")), /^RangeError: h8 is taken by black$/);
    assert.equal(board.stones, 1);
    assert.equal(board.rows()[7], ".......X.......");
  });
});

describe("serve omok", () => {
  test("a full game: seats, illegal moves with reasons, a spectator, an overline, a win", async () => {
    const server = await startOmokServer({ port: 0, graceMs: 200 });
    const clients: LineClient[] = [];
    try {
      const first = await LineClient.connect(server.addr.port);
      clients.push(first);
      await first.expect(/^ROLE black [0-9a-f]{16}$/);
      await first.expect("WAIT Waiting for an opponent");
      await first.expect(
        /^INFO .*Exactly five in a row wins, for both colours; an overline of six or more does not win/,
      );
      first.send("h8");
      await first.expect("ERROR The game has not started: waiting for an opponent");

      const second = await LineClient.connect(server.addr.port);
      clients.push(second);
      await second.expect(/^ROLE white [0-9a-f]{16}$/);
      for (const c of [first, second]) {
        await c.expect("START 1");
        await c.expect(`BOARD ${Array(15).fill(".".repeat(15)).join("/")}`);
        await c.expect("TURN black");
      }
      const watcher = await LineClient.connect(server.addr.port);
      clients.push(watcher);
      await watcher.expect("ROLE spectator");
      await watcher.expect("TURN black");

      // Illegal moves are refused, with the reason, and change nothing.
      second.send("h8");
      await second.expect("ERROR It is black's turn, not yours");
      watcher.send("a1");
      await watcher.expect("ERROR Spectators cannot move: you take the next free seat");
      first.send("z9", "hello", "h16");
      await first.expect('ERROR Point "z9" is off the board: columns run from a to o and rows from 1 to 15');
      await first.expect('ERROR "hello" is not a point: type a column a to o and a row 1 to 15, such as h8');
      await first.expect('ERROR Point "h16" is off the board: columns run from a to o and rows from 1 to 15');

      first.send("h8");
      for (const c of clients) await c.expectAfter(0, "MOVE black h8");
      second.send("MOVE h8");
      await second.expect("ERROR h8 is taken by black");

      // black: h8 i8 j8 k8 l8 across; white answers on the a file.
      const blackMoves = ["i8", "j8", "k8", "l8"];
      const whiteMoves = ["a1", "a2", "a3", "a4"];
      for (let i = 0; i < 4; i++) {
        second.send(whiteMoves[i]);
        await first.expect(`MOVE white ${whiteMoves[i]}`);
        first.send(blackMoves[i]);
        await second.expect(`MOVE black ${blackMoves[i]}`);
      }
      for (const c of clients) await c.expect("OVER black five h8 i8 j8 k8 l8");

      // Game 2: the players swap colours. The new black makes an overline: the game goes on.
      await second.expect(/^ROLE black /);
      await first.expect(/^ROLE white /);
      for (const c of clients) await c.expect("START 2");
      const g2 = second.lines.lastIndexOf("START 2");
      const newBlack = ["a1", "b1", "c1", "e1", "f1", "d1"];
      const newWhite = ["a15", "b15", "c15", "e15", "g15"];
      for (let i = 0; i < newBlack.length; i++) {
        second.send(newBlack[i]);
        await first.expect(`MOVE black ${newBlack[i]}`);
        if (i < newWhite.length) {
          first.send(newWhite[i]);
          await second.expect(`MOVE white ${newWhite[i]}`);
        }
      }
      const sixth = await second.expectAfter(g2, "MOVE black d1");
      await second.expectAfter(sixth, "TURN white"); // the game goes on after the overline
      assert.ok(!second.lines.slice(g2).some((l) => l.startsWith("OVER")), "an overline does not win");
      assert.equal(server.table.playing, true);
    } finally {
      for (const c of clients) c.close();
      await within(server.close(), 10_000, "the omok server to close");
    }
  });

  test("a player who disconnects forfeits after the grace period; one who comes back in time plays on", async () => {
    const server = await startOmokServer({ port: 0, graceMs: 300 });
    const clients: LineClient[] = [];
    try {
      const black = await LineClient.connect(server.addr.port);
      const white = await LineClient.connect(server.addr.port);
      const watcher = await LineClient.connect(server.addr.port);
      clients.push(black, white, watcher);
      const blackToken = (await black.expect(/^ROLE black /)).split(" ")[2];
      await watcher.expect("ROLE spectator");
      await black.expect("TURN black");
      black.send("h8");
      await white.expect("MOVE black h8");

      // Black's connection drops, and a new connection takes the seat back in time.
      black.close();
      await white.expect("AWAY black 1");
      const back = await LineClient.connect(server.addr.port);
      clients.push(back);
      await back.expect("ROLE spectator");
      back.send("RESUME wrong-token");
      await back.expect("ERROR No seat is waiting for that token");
      back.send(`RESUME ${blackToken}`);
      await back.expect(`ROLE black ${blackToken}`);
      await white.expect("BACK black");
      await back.expect(/^BOARD .*/);
      white.send("i9");
      await back.expect("MOVE white i9");
      back.send("h9");
      await white.expect("MOVE black h9");

      // White's connection drops, and nobody comes back: white forfeits.
      const started = Date.now();
      white.close();
      await back.expect("AWAY white 1");
      for (const c of [back, watcher]) await c.expect("OVER black wins-by-forfeit", undefined, 5000);
      assert.ok(Date.now() - started >= 250, "the forfeit waits for the grace period");

      // The spectator takes the free seat and the next game starts.
      await watcher.expect(/^ROLE black [0-9a-f]{16}$/);
      await back.expect(/^ROLE white /);
      for (const c of [back, watcher]) await c.expect("START 2");
      await waitFor(() => server.table.games === 2 && server.table.playing, "game 2");
    } finally {
      for (const c of clients) c.close();
      await within(server.close(), 10_000, "the omok server to close");
    }
  });

  test("the terminal client draws the board and sends moves typed as h8", async () => {
    const server = await startOmokServer({ port: 0 });
    const black = await LineClient.connect(server.addr.port);
    try {
      await black.expect(/^ROLE black/); // the first seat; the terminal client plays white
      const io = testIo([], { keepInputOpen: true });
      const running = runCli(["client", "omok", "--port", String(server.addr.port)], io);
      await black.expect("START 1");
      black.send("h8");
      await waitFor(() => io.out.includes("Last move: h8"), "the client to draw black's move");
      io.type("i9");
      await black.expect("MOVE white i9");
      await waitFor(() => io.out.includes("Last move: i9"), "the client to draw its own move");
      const board = io.out.slice(io.out.lastIndexOf("    a b c d e f g h i j k l m n o\n15"));
      assert.ok(board.includes("\n 9  . . . . . . . . O . . . . . .  9\n"), board);
      assert.ok(board.includes("\n 8  . . . . . . . X . . . . . . .  8\n"), board);
      assert.ok(board.includes("You are white (O).\nblack to move."), board);
      io.type("i9");
      await waitFor(() => io.out.includes("Rejected: It is black's turn, not yours"), "the rejection to be shown");
      io.endInput(); // the client gives up (QUIT) and exits
      assert.equal(await within(running, 5000, "the client to finish"), 0);
      await black.expect("OVER black wins-by-forfeit");
    } finally {
      black.close();
      await within(server.close(), 10_000, "the omok server to close");
    }
  });
});

describe("the omok view", () => {
  test("follows the server's lines", () => {
    const view = new OmokView();
    for (const line of ["ROLE white abc", "START 1", "MOVE black h8", "TURN white"]) {
      assert.equal(view.apply(line), true);
    }
    assert.equal(view.apply("NONSENSE"), false);
    assert.match(view.render(), /Your move \(white\): type a point such as h8\./);
    view.apply("OVER black five h8 i8 j8 k8 l8");
    assert.match(view.render(), /Game over: black wins with five in a row \(h8 i8 j8 k8 l8\)/);
  });

  test("names the winner of a forfeit, not the player who forfeited", () => {
    const view = new OmokView();
    view.apply("OVER white wins-by-forfeit");
    assert.match(view.render(), /Game over: white wins, the other player forfeited/);
  });
});
