//! rdp-probe: connects to an RDP server like the adapter does, waits for the
//! first full frame, writes it as a PNG and prints one JSON line (size,
//! timings, the certificate fingerprint). For fixtures, benchmarks and people
//! checking a server by hand. Errors print `{"error":{code,message}}` and exit 1.
//!
//! rdp-probe --host H [--port 3389] --user U [--password P | env RDP_PASSWORD] [--domain D]
//!           [--pin SHA256:… | --ignore-certificate] [--width 1024 --height 768]
//!           [--out frame.png] [--quiet-ms 300] [--timeout-s 30]

use std::sync::Arc;
use std::time::{Duration, Instant};

use fabric_rdp::{CertificatePolicy, DesktopRequest, RdpDesktop, RdpTarget, SessionPolicy};
use serde_json::json;

struct Args(Vec<String>);

impl Args {
    fn value(&self, name: &str) -> Option<String> {
        self.0.iter().position(|a| a == name).and_then(|i| self.0.get(i + 1)).cloned()
    }

    fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.value(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("{name} takes a number, got {v:?}")),
        }
    }
}

fn fail(code: &str, message: &str) -> ! {
    println!("{}", json!({ "error": { "code": code, "message": message } }));
    std::process::exit(1);
}

fn main() {
    let args = Args(std::env::args().skip(1).collect());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail("probe.runtime", &e.to_string()));
    runtime.block_on(run(args));
}

async fn run(args: Args) {
    let usage = |m: &str| -> ! { fail("probe.usage", m) };
    let host = args.value("--host").unwrap_or_else(|| usage("--host is required"));
    let port = args.number("--port", 3389u16).unwrap_or_else(|e| usage(&e));
    let user = args.value("--user").unwrap_or_default();
    let password = args.value("--password").or_else(|| std::env::var("RDP_PASSWORD").ok()).unwrap_or_default();
    let certificate = match (args.value("--pin"), args.flag("--ignore-certificate")) {
        (Some(pin), _) => CertificatePolicy::Pinned(pin),
        (None, true) => CertificatePolicy::Ignore,
        (None, false) => CertificatePolicy::SystemRoots,
    };
    let width = args.number("--width", 1024u16).unwrap_or_else(|e| usage(&e));
    let height = args.number("--height", 768u16).unwrap_or_else(|e| usage(&e));
    let quiet = Duration::from_millis(args.number("--quiet-ms", 300u64).unwrap_or_else(|e| usage(&e)));
    let limit = Duration::from_secs(args.number("--timeout-s", 30u64).unwrap_or_else(|e| usage(&e)));
    let out = args.value("--out");

    let target = RdpTarget {
        host,
        port,
        username: user.into(),
        password: password.into(),
        domain: args.value("--domain").map(Into::into),
        certificate,
    };
    let started = Instant::now();
    let desktop = match RdpDesktop::start(target, DesktopRequest { width, height }, SessionPolicy::default(), Arc::new(|_| {})).await {
        Ok(d) => d,
        Err(e) => fail(e.code(), &e.message),
    };
    let connect_ms = started.elapsed().as_secs_f64() * 1000.0;
    let Some((w, h, rgba)) = desktop.first_full_frame(quiet, limit).await else {
        fail("probe.no_frame", &format!("no full frame within {} s", limit.as_secs()))
    };
    let frame_ms = started.elapsed().as_secs_f64() * 1000.0 - quiet.as_secs_f64() * 1000.0;
    if let Some(path) = &out {
        if let Err(e) = write_png(path, w, h, &rgba) {
            fail("probe.write_failed", &format!("{path}: {e}"));
        }
    }
    let t = desktop.connect_timings();
    println!(
        "{}",
        json!({
            "width": w,
            "height": h,
            "certificate": desktop.certificate_fingerprint(),
            "png": out,
            "timings_ms": {
                "tcp": t.tcp_ms, "negotiation": t.negotiation_ms, "tls": t.tls_ms, "finalize": t.finalize_ms,
                "connected": connect_ms, "first_full_frame": frame_ms,
            },
        })
    );
    desktop.stop();
    let _ = tokio::time::timeout(Duration::from_secs(2), desktop.closed()).await;
}

fn write_png(path: &str, w: u16, h: u16, rgba: &[u8]) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), u32::from(w), u32::from(h));
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    // RDP framebuffers carry no meaningful alpha: write them opaque.
    let opaque: Vec<u8> = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
    writer.write_image_data(&opaque).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())
}
