/**
 * The client side of the STARTTLS exchange that tls_peer.ts serves: a plaintext line and its
 * echo, then `STARTTLS`, then the upgrade once `GO` arrives. The upgrade starts inside
 * `onData`, where every runtime can start it.
 */
import type { Stream, TlsClientOptions, TlsInfo } from "../../src/runtime/types.ts";

/** Runs the exchange on `stream`; resolves with what the handshake settled. */
export function startTlsAsClient(stream: Stream, tls: TlsClientOptions): Promise<TlsInfo> {
  const decoder = new TextDecoder();
  let text = "";
  return new Promise<TlsInfo>((resolve, reject) => {
    stream.setHandlers({
      onData(chunk) {
        text += decoder.decode(chunk, { stream: true });
        if (text === "hello\n") {
          text = "";
          stream.write(new TextEncoder().encode("STARTTLS\n"));
        } else if (text === "GO\n") {
          stream.startTls(tls).then(resolve, reject);
        } else if (!"hello\n".startsWith(text) && !"GO\n".startsWith(text)) {
          reject(new Error(`Unexpected plaintext from the server: ${JSON.stringify(text)}`));
        }
      },
      onClose: (error) => reject(error ?? new Error("The stream closed before the upgrade")),
    });
    stream.write(new TextEncoder().encode("hello\n"));
  });
}
