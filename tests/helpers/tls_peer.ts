/**
 * A TLS peer in a process of its own, so that a test on one runtime can talk to a server on
 * another. `tls_peer.ts tls` serves a TLS echo; `tls_peer.ts starttls` echoes lines in
 * plaintext until `STARTTLS`, answers `GO`, upgrades, and echoes bytes over TLS. It prints its
 * port, and exits when its stdin closes, so that it never outlives the test that started it.
 */
import process from "node:process";
import { defaultTransport } from "../../src/runtime/detect.ts";
import type { Stream } from "../../src/runtime/types.ts";
import { goodServer } from "./tls.ts";

const mode = process.argv[2];
const transport = await defaultTransport();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function startTlsEcho(stream: Stream): void {
  let text = "";
  stream.setHandlers({
    onData(chunk) {
      text += decoder.decode(chunk, { stream: true });
      let nl;
      while ((nl = text.indexOf("\n")) >= 0) {
        const line = text.slice(0, nl);
        text = text.slice(nl + 1);
        if (line !== "STARTTLS") {
          stream.write(encoder.encode(line + "\n"));
          continue;
        }
        stream.write(encoder.encode("GO\n"));
        stream.startTls(goodServer).then(
          () => stream.setHandlers({ onData: (c) => stream.write(c), onEnd: () => stream.end() }),
          (error: Error) => console.error(`starttls failed: ${error.message}`),
        );
        return;
      }
    },
    onEnd: () => stream.end(),
  });
}

const listener = await transport.listen({
  hostname: "127.0.0.1",
  port: 0,
  ...(mode === "tls" ? { tls: goodServer } : {}),
  onAccept(stream) {
    if (mode === "starttls") startTlsEcho(stream);
    else stream.setHandlers({ onData: (c) => stream.write(c), onEnd: () => stream.end() });
  },
  onError: (error) => console.error(error.message),
});
console.log(listener.addr.port);
process.stdin.on("data", () => {});
process.stdin.on("end", () => process.exit(0));
process.stdin.on("close", () => process.exit(0));
