//! entry-harness: the entry listener with the in-process echo handler, for
//! the Bun and browser tests of the client library (built with
//! `cargo build -p fabric-entry --features harness`).
//!
//!   entry-harness [--port N] [--hello-timeout-ms N] [--max-connections N] [--cert-out FILE]
//!   entry-harness --error-catalog     the entry's error codes as JSON, then exit
//!
//! Prints one JSON line on stdout when listening:
//! `{"port":N,"certificate_sha256":"hex","spki_sha256_base64":"…","path":"/rap/v1"}`.
//! Then reads commands on stdin, one per line, and answers each with a JSON line:
//! `taken_over ATTACHMENT_ID` / `ended ATTACHMENT_ID REASON` push that notice.
//! Stdin closing stops the harness.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use fabric_entry::echo::EchoHandler;
use fabric_entry::{Certificate, EntryConfig, EntryServer, ErrorEvent, Notice};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

const USAGE: &str = "usage: entry-harness [--port N] [--hello-timeout-ms N] [--max-connections N] [--cert-out FILE] | --error-catalog";

struct Args {
    port: u16,
    hello_timeout_ms: u64,
    max_connections: usize,
    /// Where to write the certificate (PEM, no key) for clients that trust it by file.
    cert_out: Option<String>,
}

fn parse(args: &[String]) -> Result<Option<Args>, String> {
    let mut out = Args { port: 0, hello_timeout_ms: 10_000, max_connections: 10_000, cert_out: None };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value")).cloned();
        match a.as_str() {
            "--port" => out.port = value(a)?.parse().map_err(|_| "--port takes a number")?,
            "--hello-timeout-ms" => out.hello_timeout_ms = value(a)?.parse().map_err(|_| "--hello-timeout-ms takes a number")?,
            "--max-connections" => out.max_connections = value(a)?.parse().map_err(|_| "--max-connections takes a number")?,
            "--cert-out" => out.cert_out = Some(value(a)?),
            "--error-catalog" => {
                println!("{}", fabric_entry::errors::catalog_json());
                return Ok(None);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Some(out))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&args) {
        Ok(Some(a)) => a,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("entry-harness: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("entry-harness: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("entry-harness: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let certificate = Certificate::self_signed(&["localhost".into(), "127.0.0.1".into()], 13).map_err(|e| e.to_string())?;
    let spki = certificate.spki_sha256_base64().unwrap_or_default();
    if let Some(path) = &args.cert_out {
        std::fs::write(path, certificate.leaf_pem()).map_err(|e| format!("writing {path}: {e}"))?;
    }
    let mut config = EntryConfig::new(SocketAddr::from(([127, 0, 0, 1], args.port)), certificate);
    config.hello_timeout = Duration::from_millis(args.hello_timeout_ms);
    config.max_connections = args.max_connections;
    let (handler, _closed) = EchoHandler::new();
    let server = EntryServer::start(config, handler.clone()).await.map_err(|e| e.to_string())?;
    let hash: String = server.certificate_sha256().iter().map(|b| format!("{b:02x}")).collect();
    println!("{}", json!({"port": server.port(), "certificate_sha256": hash, "spki_sha256_base64": spki, "path": fabric_entry::PATH}));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            [verb @ ("taken_over" | "ended"), attachment, rest @ ..] => {
                let notice = if *verb == "taken_over" {
                    Notice::TakenOver(ErrorEvent {
                        code: "data_plane.attachment_superseded".into(),
                        message_key: "errors.data_plane.attachment_superseded".into(),
                        fallback_message: "This connection was replaced by a newer one.".into(),
                        details: Default::default(),
                        trace_id: "harness".into(),
                    })
                } else {
                    Notice::Ended { reason: rest.first().copied().unwrap_or("user").to_string() }
                };
                let target = handler.admitted().into_iter().find(|a| a.attachment_id == *attachment);
                let pushed = target.is_some_and(|a| server.push(a.connection_id, notice));
                json!({"pushed": pushed})
            }
            _ => json!({"error": "unknown command"}),
        };
        println!("{answer}");
    }
    server.shutdown().await;
    Ok(())
}
