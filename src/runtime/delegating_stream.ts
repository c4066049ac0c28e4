/**
 * A stream that passes every call on to another one: the base of wrappers that watch or
 * count what goes through a stream without changing it.
 *
 * @module
 */

import type { ProxyHeader } from "./proxy_header.ts";
import type { Addr, Stream, StreamHandlers, TlsClientOptions, TlsInfo, TlsServerOptions } from "./types.ts";

/**
 * Passes every member of {@linkcode Stream} on to `inner`; subclasses override what they
 * watch.
 *
 * @example
 * ```ts
 * class CountingStream extends DelegatingStream {
 *   written = 0;
 *   override write(bytes: Uint8Array): boolean {
 *     this.written += bytes.byteLength;
 *     return super.write(bytes);
 *   }
 * }
 * ```
 */
export class DelegatingStream implements Stream {
  /** The stream underneath. */
  /** The stream every call goes to. */
  readonly inner: Stream;

  /** Wraps `inner`. */
  constructor(inner: Stream) {
    this.inner = inner;
  }

  /** The inner stream's id. */
  get id(): number {
    return this.inner.id;
  }
  /** The inner stream's local address. */
  get localAddr(): Addr {
    return this.inner.localAddr;
  }
  /** The inner stream's peer address. */
  get remoteAddr(): Addr {
    return this.inner.remoteAddr;
  }
  /** What the inner stream's TLS handshake settled, if it has TLS. */
  get tls(): TlsInfo | undefined {
    return this.inner.tls;
  }
  /** The inner stream's PROXY header, behind a balancer. */
  get proxy(): ProxyHeader | undefined {
    return this.inner.proxy;
  }
  /** Bytes queued in the inner stream. */
  get bufferedAmount(): number {
    return this.inner.bufferedAmount;
  }
  /** Whether the inner stream has closed. */
  get closed(): boolean {
    return this.inner.closed;
  }
  /** Sets the inner stream's handlers. */
  setHandlers(handlers: StreamHandlers): void {
    this.inner.setHandlers(handlers);
  }
  /** Writes to the inner stream. */
  write(bytes: Uint8Array): boolean {
    return this.inner.write(bytes);
  }
  /** Flushes the inner stream. */
  flush(): Promise<void> {
    return this.inner.flush();
  }
  /** Pauses the inner stream. */
  pause(): void {
    this.inner.pause();
  }
  /** Resumes the inner stream. */
  resume(): void {
    this.inner.resume();
  }
  /** Half-closes the inner stream. */
  end(): void {
    this.inner.end();
  }
  /** Closes the inner stream. */
  close(): Promise<void> {
    return this.inner.close();
  }
  /** Resets the inner stream. */
  reset(): void {
    this.inner.reset();
  }
  /** Sets Nagle on the inner stream. */
  setNoDelay(noDelay?: boolean): void {
    this.inner.setNoDelay(noDelay);
  }
  /** Sets keepalive on the inner stream. */
  setKeepAlive(enable: boolean, initialDelayMs?: number): void {
    this.inner.setKeepAlive(enable, initialDelayMs);
  }
  /** Upgrades the inner stream to TLS. */
  startTls(options: TlsClientOptions | TlsServerOptions): Promise<TlsInfo> {
    return this.inner.startTls(options);
  }
  /** Closes the inner stream. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.inner.close();
  }
}
