/**
 * Reads a PROXY protocol header off a fresh socket and leaves every byte after
 * it in the socket's read buffer (unshifted), so whoever reads next (a protocol
 * session, or a TLS handshake) sees the client's stream intact.
 */
import type { Socket } from "node:net";
import { type ProxyHeader, parseProxyHeader } from "./proxy-protocol.ts";

/** A v2 header is at most 16 + 65535 bytes (v1 is capped by the parser at 107). */
const MAX_HEADER_BYTES = 16 + 65_535;

export class ProxyHeaderError extends Error {
  override name = "ProxyHeaderError";
}

export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<ProxyHeader> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    const finish = (err: Error | undefined, header?: ProxyHeader) => {
      clearTimeout(timer);
      socket.off("readable", onReadable);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
      if (err) reject(err);
      else resolve(header as ProxyHeader);
    };
    const onReadable = () => {
      for (
        let chunk = socket.read() as Buffer | null;
        chunk !== null;
        chunk = socket.read() as Buffer | null
      ) {
        buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      }
      const result = parseProxyHeader(buffered);
      if (result.kind === "incomplete") {
        if (buffered.length > MAX_HEADER_BYTES) finish(new ProxyHeaderError("PROXY header too long"));
        return;
      }
      if (result.kind === "error") {
        finish(new ProxyHeaderError(result.message));
        return;
      }
      const rest = buffered.subarray(result.length);
      finish(undefined, result.header);
      if (rest.length) socket.unshift(rest);
    };
    const onEnd = () => finish(new ProxyHeaderError("connection closed before the PROXY header"));
    const timer = setTimeout(
      () => finish(new ProxyHeaderError(`no PROXY header within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on("readable", onReadable);
    socket.once("end", onEnd);
    socket.once("close", onEnd);
  });
}
