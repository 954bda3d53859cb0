import { NodeTransport } from 'nats/lib/src/node_transport';

let installed = false;

interface CorkableTransport {
  socket?: { cork(): void; uncork(): void; destroyed: boolean };
  keelCorked?: boolean;
}

/**
 * nats.js writes to its socket once per microtask checkpoint: every ack and
 * publish made from a separate I/O callback (a handler finishing after its
 * database reply) is its own `write` system call. On a loaded service that is
 * thousands of tiny writes a second, and system calls are expensive in a VM.
 * From here on, the first write of an event-loop turn corks the socket and
 * `setImmediate` uncorks it: everything written in the same turn leaves in
 * one `writev`. Adds at most one loop turn of delay to a write; order is
 * unchanged. Process-wide and idempotent (patches nats.js's Node transport).
 */
export function coalesceNatsWrites(): void {
  if (installed) return;
  installed = true;
  const proto = NodeTransport.prototype as unknown as {
    send: (this: CorkableTransport, frame: Uint8Array) => void;
  };
  const send = proto.send;
  proto.send = function (this: CorkableTransport, frame: Uint8Array) {
    const socket = this.socket;
    if (socket && !socket.destroyed && !this.keelCorked) {
      this.keelCorked = true;
      socket.cork();
      setImmediate(() => {
        this.keelCorked = false;
        socket.uncork();
      });
    }
    send.call(this, frame);
  };
}
