//! A real OpenSSH server for the adapter's tests, and a client speaking the
//! session protocol's input and render frames over in-memory pipes.
//!
//! Each `Sshd` gets throw-away host and user keys and a minimal config in
//! its own temporary folder, listens on a free loopback port, runs as the
//! current user (`sshd -D -e`), and is killed with every process it started
//! when dropped.

#![allow(dead_code)] // each test binary uses a different part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fabric_ssh::{EventSink, HostKeyPolicy, Pty, SshAuth, SshTarget, TerminalEvent};
use serde_json::json;
use session_frame::{write_frame, Frame, FrameDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

pub const SSHD: &str = "/usr/sbin/sshd";
/// The bound of every wait in these tests: generous for a busy machine, and never slept.
pub const WAIT: Duration = Duration::from_secs(15);

pub struct Sshd {
    dir: PathBuf,
    child: Child,
    pub port: u16,
    pub username: String,
    /// `SHA256:…` of the server's host key, as `ssh-keygen -lf` prints it.
    pub host_fingerprint: String,
    /// A key in `authorized_keys`.
    pub user_key: String,
    /// A key the server does not know.
    pub stranger_key: String,
    /// What sshd wrote to stderr (`-e`), for failure messages.
    pub log: Arc<Mutex<String>>,
}

/// Runs `scripts/lib/common.sh`'s `ensure_sshd` when sshd is missing; `None` (the test skips) only when that fails too.
pub fn sshd_or_skip() -> Option<Sshd> {
    if !Path::new(SSHD).exists() {
        let common = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib/common.sh");
        let installed = Command::new("bash").arg("-c").arg(format!("source '{}' && ensure_sshd", common.display())).status();
        if !matches!(installed, Ok(s) if s.success()) || !Path::new(SSHD).exists() {
            eprintln!("SKIPPED: {SSHD} is missing and `ensure_sshd` (apt-get install openssh-server) could not install it");
            return None;
        }
    }
    Some(Sshd::start(None))
}

/// An sshd that also accepts `password` for the current user, or `None` with the reason it cannot be had.
///
/// With `UsePAM no` sshd checks passwords against `/etc/shadow`, which a test
/// must not change; as root, sshd runs in a private mount namespace where a
/// copy of `/etc/shadow` with a known hash for the current user is mounted
/// over the real one, seen by that sshd only. As another user sshd cannot
/// read any shadow file, so password logins cannot succeed.
pub fn sshd_with_password(password: &str) -> Result<Sshd, String> {
    if !Path::new(SSHD).exists() {
        return Err(format!("{SSHD} is missing"));
    }
    if run(Command::new("id").arg("-u")).trim() != "0" {
        return Err("sshd checks passwords against /etc/shadow, which only root can read".into());
    }
    let private_mounts = Command::new("unshare").args(["-m", "true"]).stderr(Stdio::null()).status();
    if !matches!(private_mounts, Ok(s) if s.success()) {
        return Err("no private mount namespace (unshare -m) for a test copy of /etc/shadow".into());
    }
    Ok(Sshd::start(Some(password)))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn keygen(path: &Path) -> String {
    run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", "fabric-ssh-test", "-f"]).arg(path));
    std::fs::read_to_string(path).expect("the key ssh-keygen wrote")
}

/// Starts sshd on `port` with the files in `dir`, and waits until it listens.
fn launch(dir: &Path, port: u16, with_shadow: bool) -> Result<(Child, Arc<Mutex<String>>), String> {
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "ListenAddress 127.0.0.1:{port}\nHostKey {host}\nPidFile {pid}\nAuthorizedKeysFile {auth}\n\
             UsePAM no\nStrictModes no\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\n\
             PermitRootLogin yes\nMaxAuthTries 10\nLogLevel VERBOSE\n",
            host = dir.join("host_ed25519").display(),
            pid = dir.join("sshd.pid").display(),
            auth = dir.join("authorized_keys").display(),
        ),
    )
    .expect("sshd_config");
    let mut command = if with_shadow {
        let mut c = Command::new("unshare");
        // unshare and sh exec, so the child is sshd itself.
        c.args(["-m", "sh", "-c", r#"mount --bind "$1" /etc/shadow && exec "$0" -D -e -f "$2""#, SSHD])
            .arg(dir.join("shadow"))
            .arg(&config);
        c
    } else {
        let mut c = Command::new(SSHD);
        c.args(["-D", "-e", "-f"]).arg(&config);
        c
    };
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("starting sshd");
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("sshd's stderr");
    let (listening_tx, listening) = std::sync::mpsc::channel();
    {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Server listening on") {
                    let _ = listening_tx.send(());
                }
                let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
    }
    // Ends at "Server listening", or at once when sshd exits (its stderr closes), or after WAIT.
    if listening.recv_timeout(WAIT).is_ok() {
        return Ok((child, log));
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Err(format!("sshd on port {port} did not start listening; its log:\n{text}"))
}

/// `/etc/shadow` with `user`'s hash replaced by one of `password` (SHA-512 crypt, as `openssl passwd -6` makes it).
fn shadow_with_password(user: &str, password: &str) -> String {
    let hash = run(Command::new("openssl").args(["passwd", "-6", "-salt", "fabricssh", password])).trim().to_string();
    let shadow = std::fs::read_to_string("/etc/shadow").expect("/etc/shadow (as root)");
    shadow
        .lines()
        .map(|line| match line.split_once(':') {
            Some((name, rest)) if name == user => {
                let rest = rest.split_once(':').map_or("", |(_, r)| r);
                format!("{name}:{hash}:{rest}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect()
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("its address").port()
}

impl Sshd {
    fn start(password: Option<&str>) -> Sshd {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!("fabric-ssh-test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        keygen(&dir.join("host_ed25519"));
        let user_key = keygen(&dir.join("user"));
        let stranger_key = keygen(&dir.join("stranger"));
        std::fs::copy(dir.join("user.pub"), dir.join("authorized_keys")).expect("authorized_keys");
        let host_fingerprint = run(Command::new("ssh-keygen").arg("-lf").arg(dir.join("host_ed25519.pub")))
            .split_whitespace()
            .nth(1)
            .expect("ssh-keygen -lf prints the fingerprint second")
            .to_string();
        let username = run(Command::new("id").arg("-un")).trim().to_string();
        if run(Command::new("id").arg("-u")).trim() == "0" {
            // sshd running as root wants its privilege separation folder (systemd makes it at boot).
            std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        }
        if let Some(password) = password {
            std::fs::write(dir.join("shadow"), shadow_with_password(&username, password)).expect("the shadow copy");
        }
        // A free port can be taken again before sshd binds it: then another port.
        let mut failures = vec![];
        for _ in 0..3 {
            let port = free_port();
            match launch(&dir, port, password.is_some()) {
                Ok((child, log)) => return Sshd { dir, child, port, username, host_fingerprint, user_key, stranger_key, log },
                Err(why) => failures.push(why),
            }
        }
        panic!("sshd did not start:\n{}", failures.join("\n---\n"));
    }

    /// A new key protected by `passphrase`, authorized for the current user; its PEM.
    pub fn authorize_encrypted_key(&self, passphrase: &str) -> String {
        let path = self.dir.join("encrypted");
        run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", passphrase, "-C", "fabric-ssh-test", "-f"]).arg(&path));
        let public = std::fs::read_to_string(self.dir.join("encrypted.pub")).expect("the public key");
        let mut authorized = std::fs::read_to_string(self.dir.join("authorized_keys")).expect("authorized_keys");
        authorized.push_str(&public);
        std::fs::write(self.dir.join("authorized_keys"), authorized).expect("authorized_keys");
        std::fs::read_to_string(path).expect("the private key")
    }

    /// The folder of this server's files, removed when it is dropped.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn target(&self, auth: SshAuth, host_key: HostKeyPolicy) -> SshTarget {
        SshTarget { host: "127.0.0.1".into(), port: self.port, username: self.username.clone(), auth, host_key }
    }

    /// The usual target: the authorized key and the pinned host key.
    pub fn key_target(&self) -> SshTarget {
        self.target(
            SshAuth::PrivateKey { pem: self.user_key.clone().into(), passphrase: None },
            HostKeyPolicy::Pinned(self.host_fingerprint.clone()),
        )
    }

    /// Kills sshd and every process it started (each connection's sshd runs in its own session, so not by group).
    pub fn kill_all(&mut self) {
        let mut pids = descendants(self.child.id());
        pids.push(self.child.id());
        for pid in pids {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(Stdio::null()).status();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill_all();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every process below `pid`, read from /proc.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = std::collections::HashMap::<u32, Vec<u32>>::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid …`: comm may hold spaces, so split after its closing parenthesis.
        let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest) else { continue };
        if let Some(ppid) = after.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) {
            parents.entry(ppid).or_default().push(child);
        }
    }
    let mut out = vec![];
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for c in parents.get(&p).into_iter().flatten() {
            out.push(*c);
            todo.push(*c);
        }
    }
    out
}

/// Events into a channel the test reads.
pub fn events() -> (EventSink, mpsc::UnboundedReceiver<TerminalEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Arc::new(move |e| drop(tx.send(e))), rx)
}

pub async fn next_event(rx: &mut mpsc::UnboundedReceiver<TerminalEvent>) -> TerminalEvent {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("an event in time").expect("the event sink is alive")
}

pub fn pty() -> Pty {
    Pty { cols: 80, rows: 24, term: "xterm".into() }
}

/// One client: writes input frames, reads render frames.
pub struct Client {
    pub input: DuplexStream,
    pub output: DuplexStream,
    decoder: FrameDecoder,
    /// Every byte of terminal output received so far.
    pub screen: Vec<u8>,
    pub largest_payload: usize,
    pub ended: bool,
}

/// The streams to hand to `attach` and the client that drives them.
pub fn client() -> (DuplexStream, DuplexStream, Client) {
    let (input, adapter_input) = tokio::io::duplex(256 * 1024);
    let (adapter_output, output) = tokio::io::duplex(256 * 1024);
    (
        adapter_input,
        adapter_output,
        Client { input, output, decoder: FrameDecoder::new(), screen: vec![], largest_payload: 0, ended: false },
    )
}

impl Client {
    pub async fn keys(&mut self, text: &str) {
        write_frame(&mut self.input, &Frame::data(text.as_bytes().to_vec())).await.expect("writing keys");
    }

    pub async fn resize(&mut self, cols: u32, rows: u32) {
        write_frame(&mut self.input, &Frame::json(&json!({"type": "resize", "cols": cols, "rows": rows}))).await.expect("writing a resize");
    }

    pub async fn raw(&mut self, bytes: &[u8]) {
        self.input.write_all(bytes).await.expect("writing raw bytes");
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.screen).into_owned()
    }

    /// Reads render frames until the screen shows `needle` (bounded by [`WAIT`]).
    pub async fn wait_for(&mut self, needle: &str) {
        let found = tokio::time::timeout(WAIT, async {
            while !self.text().contains(needle) {
                if !self.read_some().await {
                    return false;
                }
            }
            true
        })
        .await;
        assert!(matches!(found, Ok(true)), "the terminal never showed {needle:?}; it showed:\n{}", self.text());
    }

    /// Reads until the render stream ends (bounded by [`WAIT`]).
    pub async fn wait_end(&mut self) {
        let ended = tokio::time::timeout(WAIT, async { while self.read_some().await {} }).await;
        assert!(ended.is_ok(), "the render stream did not end; the terminal showed:\n{}", self.text());
    }

    /// One read of render frames; false at the end of the stream.
    async fn read_some(&mut self) -> bool {
        let mut buf = [0u8; 16 * 1024];
        let n = self.output.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            self.ended = true;
            return false;
        }
        self.decoder.push(&buf[..n]);
        while let Some(frame) = self.decoder.next_frame().expect("the adapter writes valid frames") {
            assert_eq!(frame.kind, session_frame::FrameType::Data, "render frames are DATA");
            self.largest_payload = self.largest_payload.max(frame.payload.len());
            self.screen.extend_from_slice(&frame.payload);
        }
        true
    }
}
