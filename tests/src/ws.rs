//! WebSocket support for the end-to-end tests: a raw client over a
//! blocking `TcpStream` ([`RawWs`]) that writes exactly the bytes a test
//! asks for (bad upgrades, unmasked frames, absurd lengths), and finding
//! the third-party clients the tests drive (Python `websockets`,
//! headless Chromium).
//!
//! Frames the client sends are built with `wire::ws` (`encode_header`,
//! `apply_mask`); frames the server sends are parsed here by hand, so the
//! engine's reader is not checked against itself.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use wire::ws::{apply_mask, encode_header, OpCode, MAX_HEADER_LEN};

use crate::client::TIMEOUT;

/// The mask every client frame here uses (any value is valid).
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// A valid `Sec-WebSocket-Key` (RFC 6455 §1.3's sample nonce).
pub const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// The accept value the server must answer [`SAMPLE_KEY`] with.
pub const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The upgrade request a well-behaved client sends for `path`, with
/// `extra` header lines (each ending in `\r\n`) before the blank line.
pub fn upgrade_request(addr: SocketAddr, path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {SAMPLE_KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// An HTTP response head.
#[derive(Debug)]
pub struct HttpHead {
    /// The status code.
    pub status: u16,
    /// Header lines as (lowercased name, value).
    pub headers: Vec<(String, String)>,
}

impl HttpHead {
    /// The value of header `name` (case-insensitive), if present once or more.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A frame the server sent.
#[derive(Debug)]
pub struct ServerFrame {
    /// FIN bit.
    pub fin: bool,
    /// RSV1 (compressed message).
    pub rsv1: bool,
    /// The raw 4-bit opcode.
    pub opcode: u8,
    /// The payload (servers never mask).
    pub payload: Vec<u8>,
}

impl ServerFrame {
    /// The status code of a close frame (1005 when it carries none).
    pub fn close_code(&self) -> u16 {
        assert_eq!(
            self.opcode,
            OpCode::Close as u8,
            "not a close frame: {self:?}"
        );
        match self.payload.get(..2) {
            Some(c) => u16::from_be_bytes([c[0], c[1]]),
            None => 1005,
        }
    }
}

/// A WebSocket client that writes whatever it is told to.
pub struct RawWs {
    stream: TcpStream,
    /// Bytes read but not yet consumed.
    buf: Vec<u8>,
}

impl RawWs {
    /// Connects to `addr` (panics on failure).
    pub fn connect(addr: SocketAddr) -> RawWs {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT)
            .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
        stream.set_nodelay(true).expect("TCP_NODELAY");
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("read timeout");
        stream
            .set_write_timeout(Some(TIMEOUT))
            .expect("write timeout");
        RawWs {
            stream,
            buf: Vec::new(),
        }
    }

    /// Connects and upgrades to `path` with `extra` headers; panics
    /// unless the answer is 101 with the right accept value.
    pub fn open(addr: SocketAddr, path: &str, extra: &str) -> RawWs {
        let mut ws = RawWs::connect(addr);
        ws.write(upgrade_request(addr, path, extra).as_bytes())
            .expect("writing the upgrade");
        let head = ws.read_head().expect("reading the 101");
        assert_eq!(head.status, 101, "upgrade to {path} refused: {head:?}");
        assert_eq!(head.header("sec-websocket-accept"), Some(SAMPLE_ACCEPT));
        ws
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Writes `bytes` as they are.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads an HTTP response head (status line and headers).
    pub fn read_head(&mut self) -> io::Result<HttpHead> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 4);
                return Ok(parse_head(&head));
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "closed before a full response head: {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                ));
            }
        }
    }

    /// Reads until the server closes; returns what came (reset counts as closed).
    pub fn read_to_eof(&mut self) -> Vec<u8> {
        loop {
            match self.fill() {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("waiting for the server to close: {e}"),
            }
        }
        std::mem::take(&mut self.buf)
    }

    /// Sends one frame, masked with `mask` (None: unmasked, which a
    /// client must never do).
    pub fn send_frame_with(
        &mut self,
        fin: bool,
        op: OpCode,
        payload: &[u8],
        mask: Option<[u8; 4]>,
    ) -> io::Result<()> {
        let mut header = [0u8; MAX_HEADER_LEN];
        let n = encode_header(&mut header, fin, false, op, payload.len() as u64, mask);
        let mut out = header[..n].to_vec();
        let start = out.len();
        out.extend_from_slice(payload);
        if let Some(m) = mask {
            apply_mask(&mut out[start..], m, 0);
        }
        self.write(&out)
    }

    /// Sends one whole masked message in one frame.
    pub fn send(&mut self, op: OpCode, payload: &[u8]) {
        self.send_frame_with(true, op, payload, Some(MASK))
            .expect("writing a frame");
    }

    /// Sends a frame header alone, masked, claiming `payload_len` bytes.
    pub fn send_header_only(&mut self, op: OpCode, payload_len: u64) -> io::Result<()> {
        let mut header = [0u8; MAX_HEADER_LEN];
        let n = encode_header(&mut header, true, false, op, payload_len, Some(MASK));
        self.write(&header[..n])
    }

    /// Reads one frame from the server.
    pub fn read_frame(&mut self) -> io::Result<ServerFrame> {
        loop {
            if let Some((frame, used)) = parse_server_frame(&self.buf)? {
                self.buf.drain(..used);
                return Ok(frame);
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed before a whole frame",
                ));
            }
        }
    }

    /// Reads frames until a close frame (skipping pings and data); returns it.
    pub fn expect_close(&mut self) -> ServerFrame {
        loop {
            let f = self
                .read_frame()
                .unwrap_or_else(|e| panic!("expected a close frame: {e}"));
            if f.opcode == OpCode::Close as u8 {
                return f;
            }
        }
    }

    /// Sends `text`, expects it back unchanged (on an echo endpoint).
    pub fn echo(&mut self, text: &str) {
        self.send(OpCode::Text, text.as_bytes());
        loop {
            let f = self.read_frame().expect("reading the echo");
            if f.opcode == OpCode::Ping as u8 {
                continue;
            }
            assert!(f.fin && !f.rsv1, "unexpected frame shape: {f:?}");
            assert_eq!(f.opcode, OpCode::Text as u8, "{f:?}");
            assert_eq!(f.payload, text.as_bytes());
            return;
        }
    }
}

fn parse_head(head: &str) -> HttpHead {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {head:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    HttpHead { status, headers }
}

/// One server frame from the front of `buf`, and its length; `None` if
/// more bytes are needed.
fn parse_server_frame(buf: &[u8]) -> io::Result<Option<(ServerFrame, usize)>> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b1 & 0x80 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "server sent a masked frame",
        ));
    }
    let (len, at) = match b1 & 0x7f {
        126 if buf.len() >= 4 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => {
            let mut l = [0u8; 8];
            l.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(l), 10)
        }
        126 | 127 => return Ok(None),
        n => (u64::from(n), 2),
    };
    let end = at + usize::try_from(len).expect("frame length fits usize");
    if buf.len() < end {
        return Ok(None);
    }
    let frame = ServerFrame {
        fin: b0 & 0x80 != 0,
        rsv1: b0 & 0x40 != 0,
        opcode: b0 & 0x0f,
        payload: buf[at..end].to_vec(),
    };
    Ok(Some((frame, end)))
}

/// `<target>`: the directory above this test executable's profile directory.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("test binary has a directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().expect("deps has a parent");
    }
    dir.parent()
        .expect("profile dir has a parent")
        .to_path_buf()
}

/// The repository's `tests/` directory (this crate's root).
pub fn tests_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Python 3 with `websockets` the tests run: `E2E_PYTHON` if set,
/// else `<target>/py/bin/python3` (the venv `.ci/run` makes) if present,
/// else `python3`. Panics, failing the test, if `websockets` does not
/// import: a missing client must not look like a pass.
pub fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let venv = target_dir().join("py/bin/python3");
        let py = match std::env::var_os("E2E_PYTHON") {
            Some(p) => PathBuf::from(p),
            None if venv.is_file() => venv,
            None => PathBuf::from("python3"),
        };
        let out = Command::new(&py)
            .args(["-c", "import websockets; print(websockets.__version__)"])
            .output();
        match out {
            Ok(o) if o.status.success() => py,
            Ok(o) => panic!(
                "python websockets missing: `{} -c 'import websockets'` failed: {}\n\
                 install it: python3 -m venv {}/py && {}/py/bin/pip install websockets",
                py.display(),
                String::from_utf8_lossy(&o.stderr),
                target_dir().display(),
                target_dir().display(),
            ),
            Err(e) => panic!(
                "python websockets missing: cannot run {}: {e}",
                py.display()
            ),
        }
    })
}

/// The Chromium binary: `E2E_CHROMIUM` if set, else `/usr/bin/chromium`.
/// Panics, failing the test, if it is not there.
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("E2E_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "chromium missing: {} is not there (apt-get install chromium, or set E2E_CHROMIUM)",
        path.display()
    );
    path
}

/// Writes `text` to a fresh file under `<target>/e2e-tmp/` named after
/// `name` and this process; returns its path (for `--config`).
pub fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = target_dir().join("e2e-tmp");
    std::fs::create_dir_all(&dir).expect("creating e2e-tmp");
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("{}-{n}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("writing a temp file");
    path
}
