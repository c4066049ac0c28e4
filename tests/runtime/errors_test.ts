import { test } from "node:test";
import assert from "node:assert/strict";
import { describeError, formatHostPort, isNetErrorCode, NetError, toNetError } from "../../src/runtime/errors.ts";

test("NetError carries the stable code, the Winsock name and number, and the cause", () => {
  const cause = new Error("boom");
  const e = new NetError("ECONNRESET", undefined, { cause, syscall: "read", unsentBytes: 5 });
  assert.ok(e instanceof Error);
  assert.equal(e.name, "NetError");
  assert.equal(e.code, "ECONNRESET");
  assert.equal(e.winsockName, "WSAECONNRESET");
  assert.equal(e.winsockCode, 10054);
  assert.equal(e.message, "The connection was reset by the peer.");
  assert.equal(e.cause, cause);
  assert.equal(e.syscall, "read");
  assert.equal(e.unsentBytes, 5);
});

test("the Winsock table matches the seeds' numbers", () => {
  const table: [string, string, number][] = [
    ["ECONNREFUSED", "WSAECONNREFUSED", 10061],
    ["ETIMEDOUT", "WSAETIMEDOUT", 10060],
    ["EADDRINUSE", "WSAEADDRINUSE", 10048],
    ["ENOTCONN", "WSAENOTCONN", 10057],
    ["EWOULDBLOCK", "WSAEWOULDBLOCK", 10035],
    ["ECONNABORTED", "WSAECONNABORTED", 10053],
    ["ECANCELED", "WSA_OPERATION_ABORTED", 995],
  ];
  for (const [code, name, number] of table) {
    const e = new NetError(code as "ETIMEDOUT");
    assert.equal(e.winsockName, name);
    assert.equal(e.winsockCode, number);
  }
});

test("describeError takes a code, a Winsock name or a number", () => {
  assert.equal(describeError("ECONNRESET"), "The connection was reset by the peer.");
  assert.equal(describeError("WSAECONNRESET"), "The connection was reset by the peer.");
  assert.equal(describeError(10054), "The connection was reset by the peer.");
  assert.match(describeError(10061), /refused/);
  assert.equal(describeError("EBOGUS"), 'Unknown error code "EBOGUS".');
});

test("toNetError maps Node, Bun and Deno errors to stable codes", () => {
  const node = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
  assert.equal(toNetError(node).code, "ECONNREFUSED");
  const deno = Object.assign(new Error("Connection reset by peer (os error 104)"), { name: "ConnectionReset" });
  assert.equal(toNetError(deno).code, "ECONNRESET");
  const bunLike = Object.assign(new Error("Failed to connect"), { code: "ECONNREFUSED", errno: -111 });
  assert.equal(toNetError(bunLike).code, "ECONNREFUSED");
  assert.equal(toNetError(Object.assign(new Error("x"), { code: "EAGAIN" })).code, "EWOULDBLOCK");
  assert.equal(toNetError(new DOMException("aborted", "AbortError")).code, "ECANCELED");
  assert.equal(toNetError(new Error("Broken pipe (os error 32)")).code, "EPIPE");
  assert.equal(toNetError("weird").code, "EUNKNOWN");
  const wrapped = toNetError(node, { syscall: "connect", address: "::1", port: 1 });
  assert.equal(wrapped.cause, node);
  assert.match(wrapped.message, /connect \[::1\]:1/);
  const same = new NetError("EPIPE");
  assert.equal(toNetError(same), same);
});

test("helpers", () => {
  assert.equal(isNetErrorCode("ECONNRESET"), true);
  assert.equal(isNetErrorCode("nope"), false);
  assert.equal(formatHostPort("::1", 80), "[::1]:80");
  assert.equal(formatHostPort("127.0.0.1"), "127.0.0.1");
});
