/**
 * The `entry-node` role: clients connect here (WebTransport, or the WebSocket
 * fallback on the same port) and their channel streams are spliced to the
 * session's adapter node over mesh session streams, in Rust. This file only
 * decides: it checks each client's token offline against the keys of the
 * signed snapshot, redeems it once with the control plane, admits or refuses
 * the client with the spec's error event, tells the previous controller of a
 * session on this entry that it was taken over, and reports closed client
 * transports so the session detaches. No byte of a session passes through it.
 */
import { verifyDataPlaneToken } from "../../core/crypto/data-plane-token.ts";
import { errorEvent } from "../../core/error-event.ts";
import { isErrorCode } from "../../core/error-catalog.ts";
import type { DataPlaneKey, ErrorEvent, TransferMode } from "../../core/contracts/data-plane-token.ts";
import type { CallAnswer, CallBody } from "../../core/contracts/node-agent-api.ts";
import type { SessionEventBody } from "../../core/contracts/adapter.ts";
import { AgentError } from "../client.ts";
import type { Clock } from "../clock.ts";

/** What the entry transport (crates/fabric-entry, through the mesh addon) tells the agent. */
export type EntryEvent =
  | {
      type: "hello";
      connection_id: number;
      session_id: string;
      /** The client's data-plane token: never logged. */
      token: string;
      transport: "webtransport" | "websocket";
      remote_addr: string;
      trace_id: string;
    }
  | {
      type: "closed";
      connection_id: number;
      transport: "webtransport" | "websocket";
      session_id: string | null;
      attachment_id: string | null;
      /** client_closed, detached, refused, pushed or shutdown. */
      reason: string;
    };

export type EntryNotice = { type: "session.taken_over"; error: ErrorEvent } | { type: "session.ended"; reason: string };

/** The entry transport as the agent drives it. */
export interface EntryTransport {
  readonly port: number;
  /** SHA-256 (hex) of the self-signed certificate, null with an operator certificate. */
  readonly certificateSha256: string | null;
  nextEvent(): Promise<EntryEvent | null>;
  admit(
    connectionId: number,
    admission: { session_id: string; attachment_id: string; channels: string[]; adapter_node_id: string; clipboard: TransferMode },
  ): void;
  refuse(connectionId: number, error: ErrorEvent): void;
  push(connectionId: number, notice: EntryNotice): boolean;
  stop(): Promise<void>;
}

/** The control-plane calls and snapshot facts the entry needs. */
export interface EntryControl {
  /** Token keys and policy from the stored signed snapshot (null: this node has no entry section). */
  entryPolicy(): Promise<{ keys: DataPlaneKey[]; maxTtlSeconds: number } | null>;
  redeem(token: string, sessionId: string): Promise<CallAnswer<"redeemToken">>;
  report(sessionId: string, body: SessionEventBody): Promise<void>;
  publish(body: CallBody<"entryEndpoint">): Promise<void>;
}

/** How long a hello waits for its session's adapter to start (the entry's own admit limit is 30 s). */
const START_WAIT_MS = 25_000;

interface Admitted {
  sessionId: string;
  attachmentId: string;
}

export class EntryService {
  private readonly admitted = new Map<number, Admitted>();
  private loop: Promise<void> | null = null;

  constructor(
    private readonly transport: EntryTransport,
    private readonly o: {
      nodeId: string;
      control: EntryControl;
      /** Public host clients reach this entry at (the URL's host). */
      publicHost: string;
      clock: Clock;
      log: (msg: string, fields?: Record<string, unknown>) => void;
    },
  ) {}

  /** Where clients connect, as published to the control plane. */
  get url(): string {
    const host = this.o.publicHost.includes(":") ? `[${this.o.publicHost}]` : this.o.publicHost;
    return `https://${host}:${this.transport.port}/rap/v1`;
  }

  /** Publishes the endpoint and handles client events until `stop()`. */
  async start(): Promise<void> {
    const hashes = this.transport.certificateSha256 ? [this.transport.certificateSha256] : [];
    await this.o.control.publish({ urls: [this.url], certificate_hashes: hashes });
    this.o.log("entry listening", { url: this.url, transport: "webtransport+websocket" });
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    await this.transport.stop();
    await this.loop;
  }

  /** Connections admitted now, for status. */
  connections(): number {
    return this.admitted.size;
  }

  private async run(): Promise<void> {
    for (let e = await this.transport.nextEvent(); e; e = await this.transport.nextEvent()) {
      if (e.type === "hello") void this.hello(e);
      else await this.closed(e);
    }
  }

  private async hello(h: Extract<EntryEvent, { type: "hello" }>): Promise<void> {
    const refuse = (code: string, details: Record<string, unknown> = {}) => {
      const known = isErrorCode(code) ? code : "data_plane.token_invalid";
      this.transport.refuse(h.connection_id, errorEvent(known, { session_id: h.session_id, ...details }, h.trace_id));
      this.o.log("entry refused a client", { code: known, session: h.session_id, transport: h.transport });
    };
    try {
      const policy = await this.o.control.entryPolicy();
      if (!policy) return refuse("data_plane.entry_not_authorized");
      const verdict = await verifyDataPlaneToken(
        h.token,
        policy.keys,
        { entryNodeId: this.o.nodeId, sessionId: h.session_id, maxTtlSeconds: policy.maxTtlSeconds },
        this.o.clock.now(),
      );
      if (!verdict.ok) return refuse(verdict.code);
      const r = await this.redeemWhenStarted(h.token, h.session_id);
      for (const [id, a] of this.admitted) {
        if (a.sessionId === r.session_id && a.attachmentId !== r.attachment_id) {
          this.transport.push(id, { type: "session.taken_over", error: errorEvent("session.taken_over", { session_id: r.session_id }, h.trace_id) });
        }
      }
      this.admitted.set(h.connection_id, { sessionId: r.session_id, attachmentId: r.attachment_id });
      this.transport.admit(h.connection_id, {
        session_id: r.session_id,
        attachment_id: r.attachment_id,
        channels: r.channels,
        adapter_node_id: r.adapter_node_id,
        clipboard: r.policy.clipboard,
      });
      this.o.log("entry admitted a client", { session: r.session_id, attachment: r.attachment_id, transport: h.transport });
    } catch (err) {
      // A refusal of the control plane is the client's answer; anything else (unreachable) is ours, said plainly.
      if (err instanceof AgentError && err.status >= 400 && err.status < 500) return refuse(err.code, err.details);
      refuse("data_plane.entry_unavailable");
      this.o.log("entry could not redeem a token", { error: err instanceof Error ? err.message : String(err) });
    }
  }

  /**
   * Redeems the token once the session's adapter runs: while it is still
   * connecting the control plane answers `remote_session.starting` without
   * spending the token, and the client's hello waits (the entry bounds the wait).
   */
  private async redeemWhenStarted(token: string, sessionId: string) {
    const deadline = this.o.clock.now().getTime() + START_WAIT_MS;
    for (;;) {
      try {
        return await this.o.control.redeem(token, sessionId);
      } catch (err) {
        if (!(err instanceof AgentError) || err.code !== "remote_session.starting" || this.o.clock.now().getTime() > deadline) throw err;
        const wait = Number(err.details.retry_after_ms);
        await this.o.clock.sleep(Number.isFinite(wait) && wait > 0 ? Math.min(wait, 2000) : 250);
      }
    }
  }

  private async closed(e: Extract<EntryEvent, { type: "closed" }>): Promise<void> {
    const a = this.admitted.get(e.connection_id);
    this.admitted.delete(e.connection_id);
    // An admitted client gone for any reason (closed, detached, refused for bad input, the entry shutting down) leaves its
    // session detached, to be reattached; a pushed close (taken over, ended) already has its reason on the control plane.
    if (!a || e.reason === "pushed") return;
    try {
      await this.o.control.report(a.sessionId, { type: "entry.transport_closed", attachment_id: a.attachmentId });
    } catch (err) {
      this.o.log("entry could not report a closed transport", { session: a.sessionId, error: err instanceof Error ? err.message : String(err) });
    }
  }
}
