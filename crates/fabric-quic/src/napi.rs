//! The napi-rs surface. Everything here converts and forwards to
//! `Endpoint`; errors carry the spec's failure reason as the message prefix
//! (`<code>: <detail>`), which the TypeScript wrapper turns into `code`.

use crate::adapter_host::AdapterHost;
use crate::adapter_start::{RdpStart, SshStart, VpnRoute};
use crate::class::{Class, ALL};
use crate::endpoint::{Endpoint, EndpointOptions};
use crate::entry_host::{AdmitAnswer, EntryHost, EntryStart};
use crate::error::FabricError;
use crate::queue::Enqueued;
use crate::wire::valid_id;
use bytes::Bytes;
use napi::bindgen_prelude::*;
use napi::{Env, JsObject};
use napi_derive::napi;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

#[path = "napi_vpn.rs"]
mod vpn;

fn to_napi(e: FabricError) -> napi::Error {
    // Display is "<code>: <detail>", which the TypeScript wrapper parses.
    napi::Error::new(Status::GenericFailure, e.to_string())
}

fn invalid(what: impl Into<String>) -> napi::Error {
    to_napi(FabricError::ConfigInvalid(what.into()))
}

fn class(name: &str) -> Result<Class> {
    Class::parse(name).ok_or_else(|| to_napi(FabricError::ChannelClassDenied(format!("unknown channel class {name:?}"))))
}

/// The channel-class names in wire order (`class::ALL`); the wrapper's
/// test compares them with its `CHANNEL_CLASSES`.
#[napi]
pub fn channel_classes() -> Vec<String> {
    ALL.iter().map(|c| c.name().to_string()).collect()
}

#[napi(object)]
pub struct BindOptions {
    pub cluster_id: String,
    pub node_id: String,
    /// `host:port`; default `127.0.0.1:0`.
    pub listen: Option<String>,
    pub cert_pem: String,
    pub key_pkcs8: Buffer,
    pub ca_pems: Vec<String>,
    pub revoked_serials: Option<Vec<String>>,
    pub idle_timeout_ms: Option<u32>,
    pub keep_alive_ms: Option<u32>,
    pub udp_buffer_bytes: Option<u32>,
    pub segmentation_offload: Option<bool>,
    /// The largest UDP payload accepted and searched for by path-MTU
    /// discovery, 1200-8972 (default 1472; raise on jumbo-frame underlays).
    pub max_udp_payload: Option<u32>,
    /// Queueing delay tolerated above the path's min RTT, in µs; 0: plain CUBIC.
    pub queue_delay_target_us: Option<u32>,
    /// Receive window per stream, bytes (default 1 MiB).
    pub stream_window_bytes: Option<u32>,
}

#[napi(object)]
pub struct MeshMessage {
    pub from: String,
    pub via: Option<String>,
    pub class: String,
    pub data: Buffer,
}

/// What `send_many` did with a batch (see `send_now` for `wait`).
#[napi(object)]
pub struct SendBatch {
    pub queued: u32,
    pub dropped: u32,
    /// At least one message went onto a queue over its depth: await `room` before sending more.
    pub wait: bool,
}

/// `send_now`'s answers.
#[napi]
pub const SENT_READY: u32 = 0;
#[napi]
pub const SENT_DROPPED: u32 = 1;
#[napi]
pub const SENT_WAIT: u32 = 2;

fn outcome_code(enqueued: Enqueued) -> u32 {
    match enqueued {
        Enqueued::Ready => SENT_READY,
        Enqueued::Dropped => SENT_DROPPED,
        Enqueued::Wait(_) => SENT_WAIT,
    }
}

#[napi]
pub struct MeshEndpoint {
    inner: Endpoint,
    /// The SSH terminals of the sessions this node serves as adapter, started on first use.
    adapter: Arc<OnceLock<Arc<AdapterHost>>>,
    /// The client-facing entry server, while this node runs the entry-node role.
    entry: Arc<std::sync::Mutex<Option<Arc<EntryHost>>>>,
}

impl MeshEndpoint {
    fn entry_host(&self) -> Result<Arc<EntryHost>> {
        self.entry.lock().ok().and_then(|e| e.clone()).ok_or_else(|| invalid("the entry is not running"))
    }

    /// The adapter host, created inside the runtime (it spawns the accept loop).
    fn adapter_host(adapter: &OnceLock<Arc<AdapterHost>>, inner: &Endpoint) -> Arc<AdapterHost> {
        adapter.get_or_init(|| AdapterHost::start(inner.clone())).clone()
    }
}

fn string_field(v: &serde_json::Value, key: &str) -> Option<String> {
    v.get(key).and_then(|x| x.as_str()).map(str::to_string)
}

/// `via_vpn: {connection_id, owner_node_id, epoch}` or absent/null.
fn vpn_route(v: &serde_json::Value) -> Result<Option<VpnRoute>> {
    let Some(route) = v.get("via_vpn").filter(|r| !r.is_null()) else { return Ok(None) };
    let bad = || invalid("via_vpn: connection_id, owner_node_id, resource_id and an epoch of at least 1 expected");
    Ok(Some(VpnRoute {
        connection_id: string_field(route, "connection_id").ok_or_else(bad)?,
        owner_node_id: string_field(route, "owner_node_id").ok_or_else(bad)?,
        epoch: route.get("epoch").and_then(|e| e.as_u64()).filter(|e| *e >= 1).ok_or_else(bad)?,
        resource_id: string_field(route, "resource_id").ok_or_else(bad)?,
    }))
}

/// The agent's `SshStart` JSON (agent/sessions/adapter-service.ts) as the adapter host's.
fn ssh_start(json: &str) -> Result<SshStart> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| invalid(format!("ssh start: {e}")))?;
    let port = v.get("port").and_then(|p| p.as_u64()).and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0);
    Ok(SshStart {
        host: string_field(&v, "host").ok_or_else(|| invalid("ssh start: host missing"))?,
        port: port.ok_or_else(|| invalid("ssh start: port must be 1-65535"))?,
        username: string_field(&v, "username").ok_or_else(|| invalid("ssh start: username missing"))?,
        password: string_field(&v, "password"),
        private_key: string_field(&v, "private_key"),
        host_key: string_field(&v, "host_key"),
        entry_node_ids: v
            .get("entry_node_ids")
            .and_then(|x| x.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
        via_vpn: vpn_route(&v)?,
    })
}

/// The agent's `RdpStart` JSON (agent/sessions/adapter-service.ts) as the adapter host's.
fn rdp_start(json: &str) -> Result<RdpStart> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| invalid(format!("rdp start: {e}")))?;
    let port = v.get("port").and_then(|p| p.as_u64()).and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0);
    let required = |k: &str| string_field(&v, k).ok_or_else(|| invalid(format!("rdp start: {k} missing")));
    let quality = v.get("quality").ok_or_else(|| invalid("rdp start: quality missing"))?;
    Ok(RdpStart {
        host: required("host")?,
        port: port.ok_or_else(|| invalid("rdp start: port must be 1-65535"))?,
        username: required("username")?,
        password: required("password")?,
        domain: string_field(&v, "domain"),
        certificate: string_field(&v, "certificate"),
        verification: required("verification")?,
        profile: string_field(quality, "profile").ok_or_else(|| invalid("rdp start: quality.profile missing"))?,
        color_mode: string_field(quality, "color_mode"),
        quality_adjustable: quality.get("adjustable").and_then(|a| a.as_bool()).unwrap_or(false),
        clipboard: required("clipboard")?,
        file_transfer: required("file_transfer")?,
        transfer_root: required("transfer_root")?.into(),
        entry_node_ids: v
            .get("entry_node_ids")
            .and_then(|x| x.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
        via_vpn: vpn_route(&v)?,
    })
}

#[napi(ts_return_type = "Promise<MeshEndpoint>")]
pub fn bind(env: Env, options: BindOptions) -> Result<JsObject> {
    let mut opts = EndpointOptions::new(&options.cluster_id, &options.node_id, &options.cert_pem, options.key_pkcs8.to_vec(), "");
    opts.ca_pems = options.ca_pems;
    if let Some(listen) = options.listen {
        opts.listen = listen.parse().map_err(|_| invalid(format!("listen address {listen:?} is not host:port")))?;
    }
    opts.revoked_serials = options.revoked_serials.unwrap_or_default();
    if let Some(ms) = options.idle_timeout_ms {
        opts.idle_timeout = Duration::from_millis(ms.into());
    }
    if let Some(ms) = options.keep_alive_ms {
        opts.keep_alive = Duration::from_millis(ms.into());
    }
    if let Some(bytes) = options.udp_buffer_bytes {
        opts.udp_buffer_bytes = bytes as usize;
    }
    if let Some(gso) = options.segmentation_offload {
        opts.segmentation_offload = gso;
    }
    if let Some(bytes) = options.max_udp_payload {
        opts.max_udp_payload = u16::try_from(bytes).unwrap_or(u16::MAX);
    }
    if let Some(bytes) = options.stream_window_bytes {
        opts.stream_window_bytes = bytes.clamp(64 << 10, 64 << 20);
    }
    if let Some(us) = options.queue_delay_target_us {
        opts.queue_delay_target = (us > 0).then(|| Duration::from_micros(us.into()));
    }
    env.spawn_future(async move {
        Endpoint::bind(opts).map(|inner| MeshEndpoint { inner, adapter: Arc::default(), entry: Arc::default() }).map_err(to_napi)
    })
}

#[napi]
impl MeshEndpoint {
    #[napi(getter)]
    pub fn local_addr(&self) -> String {
        self.inner.local_addr().to_string()
    }

    /// Resolves with the peer's certificate facts as JSON.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn connect(&self, env: Env, node_id: String, addr: String) -> Result<JsObject> {
        let addr = addr.parse().map_err(|_| invalid(format!("peer address {addr:?} is not host:port")))?;
        let inner = self.inner.clone();
        env.spawn_future(async move {
            let cert = inner.connect(&node_id, addr).await.map_err(to_napi)?;
            Ok(serde_json::json!({ "node_id": cert.node_id, "serial": cert.serial, "not_after_unix": cert.not_after_unix }).to_string())
        })
    }

    #[napi]
    pub fn authorize(&self, node_id: String, classes: Vec<String>) -> Result<()> {
        let parsed = classes.iter().map(|c| class(c)).collect::<Result<Vec<_>>>()?;
        self.inner.authorize(&node_id, &parsed);
        Ok(())
    }

    #[napi]
    pub fn set_route(&self, destination: String, relays: Vec<String>) -> Result<()> {
        if relays.len() > 7 || relays.iter().chain([&destination]).any(|id| !valid_id(id)) {
            return Err(invalid("a route has at most 7 relays and node ids of 1-64 bytes"));
        }
        self.inner.set_route(&destination, &relays);
        Ok(())
    }

    #[napi]
    pub fn set_relay(&self, enabled: bool) {
        self.inner.set_relay(enabled);
    }

    /// `pairs` are `[nodeA, nodeB]` end nodes this relay may forward between.
    #[napi]
    pub fn set_relay_leases(&self, pairs: Vec<Vec<String>>, expires_unix: i64) -> Result<()> {
        let pairs = pairs
            .into_iter()
            .map(|p| match p.as_slice() {
                [a, b] => Ok((a.clone(), b.clone())),
                _ => Err(invalid("a relay lease is a pair of node ids")),
            })
            .collect::<Result<Vec<_>>>()?;
        self.inner.set_relay_leases(pairs, expires_unix);
        Ok(())
    }

    #[napi]
    pub fn set_revoked(&self, serials: Vec<String>) -> Vec<String> {
        self.inner.set_revoked(serials)
    }

    #[napi]
    pub fn set_trust(&self, ca_pems: Vec<String>) -> Result<Vec<String>> {
        self.inner.set_trust(&ca_pems).map_err(to_napi)
    }

    /// Replaces this node's certificate and key for new handshakes; returns
    /// the new certificate's facts as JSON (as `connect` does for a peer).
    #[napi]
    pub fn set_certificate(&self, cert_pem: String, key_pkcs8: Buffer) -> Result<String> {
        let cert = self.inner.set_certificate(&cert_pem, key_pkcs8.to_vec()).map_err(to_napi)?;
        Ok(serde_json::json!({ "node_id": cert.node_id, "serial": cert.serial, "not_after_unix": cert.not_after_unix }).to_string())
    }

    #[napi]
    pub fn disconnect(&self, node_id: String, reason: String) -> bool {
        self.inner.disconnect(&node_id, &reason)
    }

    #[napi]
    pub fn peers(&self) -> Vec<String> {
        self.inner.peers()
    }

    /// Queues a message and answers at once, without a promise: `SENT_READY`
    /// (queued, go on), `SENT_DROPPED` (QoS dropped it) or `SENT_WAIT`
    /// (queued, but the class's queue is over its depth: await `room` before
    /// the next). The common case costs no round trip through napi's
    /// threadsafe functions, which is what `send`'s promise pays.
    #[napi]
    pub fn send_now(&self, to: String, class_name: String, data: Buffer) -> Result<u32> {
        let class = class(&class_name)?;
        Ok(outcome_code(self.inner.send_now(&to, class, Bytes::copy_from_slice(&data)).map_err(to_napi)?))
    }

    /// Queues several messages for one destination and class, in order, in one
    /// call. Throws only when the first cannot be queued (no route, class not
    /// authorized); a route that closes part-way stops the batch, and `queued`
    /// then says how many went.
    #[napi]
    pub fn send_many(&self, to: String, class_name: String, data: Vec<Buffer>) -> Result<SendBatch> {
        let class = class(&class_name)?;
        let mut batch = SendBatch { queued: 0, dropped: 0, wait: false };
        for (i, message) in data.iter().enumerate() {
            match self.inner.send_now(&to, class, Bytes::copy_from_slice(message)) {
                Ok(enqueued) => match outcome_code(enqueued) {
                    SENT_DROPPED => batch.dropped += 1,
                    code => {
                        batch.queued += 1;
                        batch.wait |= code == SENT_WAIT;
                    }
                },
                Err(e) if i == 0 => return Err(to_napi(e)),
                Err(_) => break,
            }
        }
        Ok(batch)
    }

    /// Resolves once the (to, class) queue has room again (after `SENT_WAIT`).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn room(&self, env: Env, to: String, class_name: String) -> Result<JsObject> {
        let class = class(&class_name)?;
        let inner = self.inner.clone();
        env.spawn_future(async move {
            inner.room(&to, class).await;
            Ok(())
        })
    }

    /// Waits for messages; resolves with up to `max`, urgent classes first,
    /// or an empty list once the endpoint is closed.
    #[napi(ts_return_type = "Promise<MeshMessage[]>")]
    pub fn recv(&self, env: Env, max: u32) -> Result<JsObject> {
        let inner = self.inner.clone();
        env.spawn_future(async move {
            let batch = inner.recv(max.max(1) as usize).await;
            Ok(batch
                .into_iter()
                // The received bytes become the Buffer's memory without a copy when the
                // message owns its allocation (it usually does: one per message).
                .map(|d| MeshMessage { from: d.from, via: d.via, class: d.class.name().into(), data: Vec::<u8>::from(d.data).into() })
                .collect::<Vec<_>>())
        })
    }

    /// Resolves with the next event as JSON, or null once closed.
    #[napi(ts_return_type = "Promise<string | null>")]
    pub fn next_event(&self, env: Env) -> Result<JsObject> {
        let inner = self.inner.clone();
        env.spawn_future(async move { Ok(inner.next_event().await.map(|e| e.to_json().to_string())) })
    }

    #[napi]
    pub fn stats(&self) -> String {
        self.inner.stats().to_string()
    }

    /// Starts the SSH terminal of a session this node serves as adapter; resolves once its shell runs.
    /// Rejects with `<code>: <detail>` (`adapter.auth_failed: …`). Credentials are not kept outside the terminal.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn start_ssh(&self, env: Env, session_id: String, start_json: String) -> Result<JsObject> {
        let start = ssh_start(&start_json)?;
        let (adapter, inner) = (self.adapter.clone(), self.inner.clone());
        env.spawn_future(async move {
            let host = MeshEndpoint::adapter_host(&adapter, &inner);
            host.start_ssh(&session_id, start).await.map_err(|e| napi::Error::new(Status::GenericFailure, e))
        })
    }

    /// Starts the RDP desktop of a session this node serves as adapter; resolves once it runs.
    /// Rejects with `<code>: <detail>` (`adapter.certificate_mismatch: …`). Credentials are not kept outside the desktop.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn start_rdp(&self, env: Env, session_id: String, start_json: String) -> Result<JsObject> {
        let start = rdp_start(&start_json)?;
        let (adapter, inner) = (self.adapter.clone(), self.inner.clone());
        env.spawn_future(async move {
            let host = MeshEndpoint::adapter_host(&adapter, &inner);
            host.start_rdp(&session_id, start).await.map_err(|e| napi::Error::new(Status::GenericFailure, e))
        })
    }

    /// The entry nodes allowed to open a running session's streams.
    #[napi]
    pub fn allow_session_entries(&self, session_id: String, entry_node_ids: Vec<String>) {
        if let Some(host) = self.adapter.get() {
            host.allow_entries(&session_id, entry_node_ids);
        }
    }

    /// Stops a session's terminal or desktop; its end comes through `nextAdapterEvent` as `stopped`.
    #[napi]
    pub fn stop_session(&self, session_id: String) {
        if let Some(host) = self.adapter.get() {
            host.stop(&session_id);
        }
    }

    /// Resolves with the next ended session as JSON (`{"type":"ended","session_id","reason"}`), or null once closed.
    #[napi(ts_return_type = "Promise<string | null>")]
    pub fn next_adapter_event(&self, env: Env) -> Result<JsObject> {
        let (adapter, inner) = (self.adapter.clone(), self.inner.clone());
        env.spawn_future(async move {
            let host = MeshEndpoint::adapter_host(&adapter, &inner);
            Ok(host
                .next_ended()
                .await
                .map(|e| serde_json::json!({ "type": "ended", "session_id": e.session_id, "reason": e.reason }).to_string()))
        })
    }

    /// Starts the entry server on this endpoint: `{listen, cert_file?, key_file?, names}` →
    /// `{port, certificate_sha256}` (the hash only for a self-signed certificate).
    #[napi(ts_return_type = "Promise<string>")]
    pub fn start_entry(&self, env: Env, options_json: String) -> Result<JsObject> {
        let v: serde_json::Value = serde_json::from_str(&options_json).map_err(|e| invalid(format!("entry options: {e}")))?;
        let listen = string_field(&v, "listen").ok_or_else(|| invalid("entry options: listen missing"))?;
        let listen = listen.parse().map_err(|_| invalid(format!("entry listen address {listen:?} is not IP:port")))?;
        let files = match (string_field(&v, "cert_file"), string_field(&v, "key_file")) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err(invalid("entry options: cert_file and key_file go together")),
        };
        let names = v
            .get("names")
            .and_then(|x| x.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let (inner, slot) = (self.inner.clone(), self.entry.clone());
        env.spawn_future(async move {
            let host = EntryHost::start(inner, EntryStart { listen, certificate_files: files, names })
                .await
                .map_err(|e| napi::Error::new(Status::GenericFailure, e))?;
            let answer = serde_json::json!({
                "port": host.port,
                "certificate_sha256": host.certificate_sha256,
                "certificate_pem": host.certificate_pem,
            })
            .to_string();
            let old = slot.lock().ok().and_then(|mut s| s.replace(Arc::new(host)));
            if let Some(old) = old {
                old.stop().await;
            }
            Ok(answer)
        })
    }

    /// The next client hello or closed connection as JSON, or null once the entry stopped.
    #[napi(ts_return_type = "Promise<string | null>")]
    pub fn next_entry_event(&self, env: Env) -> Result<JsObject> {
        let host = self.entry_host()?;
        env.spawn_future(async move { Ok(host.next_event().await.map(|e| e.to_string())) })
    }

    /// Admits a waiting client: `{session_id, attachment_id, channels, adapter_node_id, clipboard}` (`clipboard` the policy's mode).
    #[napi]
    pub fn admit_entry(&self, connection_id: i64, answer_json: String) -> Result<()> {
        let v: serde_json::Value = serde_json::from_str(&answer_json).map_err(|e| invalid(format!("admission: {e}")))?;
        let field = |k: &str| string_field(&v, k).ok_or_else(|| invalid(format!("admission: {k} missing")));
        let answer = AdmitAnswer {
            session_id: field("session_id")?,
            attachment_id: field("attachment_id")?,
            adapter_node_id: field("adapter_node_id")?,
            clipboard: field("clipboard")?,
            channels: v
                .get("channels")
                .and_then(|x| x.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
        };
        self.entry_host()?.admit(connection_id as u64, answer).map_err(|e| napi::Error::new(Status::GenericFailure, e))
    }

    /// Refuses a waiting client with the error event it gets.
    #[napi]
    pub fn refuse_entry(&self, connection_id: i64, error_json: String) -> Result<()> {
        let v: serde_json::Value = serde_json::from_str(&error_json).map_err(|e| invalid(format!("error event: {e}")))?;
        self.entry_host()?.refuse(connection_id as u64, &v).map_err(|e| napi::Error::new(Status::GenericFailure, e))
    }

    /// Sends `session.taken_over` or `session.ended` to one admitted client and closes its transport.
    #[napi]
    pub fn push_entry(&self, connection_id: i64, notice_json: String) -> Result<bool> {
        let v: serde_json::Value = serde_json::from_str(&notice_json).map_err(|e| invalid(format!("notice: {e}")))?;
        Ok(self.entry_host()?.push(connection_id as u64, &v))
    }

    /// Stops the entry server (every client closed); `nextEntryEvent` then resolves null.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn stop_entry(&self, env: Env) -> Result<JsObject> {
        let host = self.entry.lock().ok().and_then(|mut e| e.take());
        env.spawn_future(async move {
            if let Some(host) = host {
                host.stop().await;
            }
            Ok(())
        })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self, env: Env) -> Result<JsObject> {
        let inner = self.inner.clone();
        if let Some(host) = self.adapter.get() {
            host.close();
        }
        let entry = self.entry.lock().ok().and_then(|mut e| e.take());
        env.spawn_future(async move {
            if let Some(entry) = entry {
                entry.stop().await;
            }
            inner.close().await;
            Ok(())
        })
    }
}
