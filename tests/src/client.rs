//! A blocking `wire` client over a std `TcpStream`: what a simple SDK
//! would do, with explicit timeouts so a test never hangs.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use wire::{Control, Flags, FrameDecoder, FrameType, Target, WireError};

use crate::frames::{self, OwnedFrame};

/// The default wait for an expected frame: generous, only there so a
/// broken server fails a test instead of hanging it.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// Largest payload this client accepts from the server.
const CLIENT_MAX_PAYLOAD: u32 = 64 << 20;
/// Bytes read from the socket at a time.
const READ_BUF_BYTES: usize = 64 * 1024;

/// Why [`WireClient::read_frame`] returned no frame.
#[derive(Debug)]
pub enum ReadError {
    /// Nothing arrived before the timeout.
    Timeout,
    /// The server closed the connection (EOF or reset).
    Closed,
    /// The server sent bytes the decoder refused.
    Decode(WireError),
    /// Any other socket error.
    Io(io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One client connection.
pub struct WireClient {
    stream: TcpStream,
    decoder: FrameDecoder,
    inbox: VecDeque<OwnedFrame>,
    closed: bool,
    next_message_id: u64,
}

impl WireClient {
    /// Connects to `addr` (panics on failure).
    pub fn connect(addr: SocketAddr) -> WireClient {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT)
            .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
        WireClient::from_stream(stream)
    }

    /// Connects to `addr` from the local address `source` (a 127.0.0.x
    /// address spreads many connections over several source addresses).
    pub fn connect_from(addr: SocketAddr, source: IpAddr) -> io::Result<WireClient> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.bind(&SockAddr::from(SocketAddr::new(source, 0)))?;
        socket.connect_timeout(&SockAddr::from(addr), TIMEOUT)?;
        Ok(WireClient::from_stream(socket.into()))
    }

    fn from_stream(stream: TcpStream) -> WireClient {
        stream.set_nodelay(true).expect("TCP_NODELAY");
        stream
            .set_write_timeout(Some(TIMEOUT))
            .expect("write timeout");
        WireClient {
            stream,
            decoder: FrameDecoder::new(CLIENT_MAX_PAYLOAD),
            inbox: VecDeque::new(),
            closed: false,
            next_message_id: 1,
        }
    }

    /// The socket (for options, or to shut down a direction).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Writes `bytes` as they are, in one `write_all`.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    fn write_frame(&mut self, bytes: &[u8]) {
        self.write_raw(bytes).expect("writing a frame");
    }

    /// A fresh client-side message id.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_message_id;
        self.next_message_id += 1;
        id
    }

    /// Sends HELLO as `user` and reads the WELCOME; returns the
    /// connection id.
    pub fn hello(&mut self, user: &str) -> u64 {
        self.send_hello(user);
        let f = self.expect_frame(FrameType::Welcome);
        f.welcome().connection_id
    }

    /// Sends HELLO as `user` without waiting for the answer.
    pub fn send_hello(&mut self, user: &str) {
        self.write_frame(&frames::hello(user));
    }

    /// Sends a SEND; returns its message id.
    pub fn send(&mut self, target: Target<'_>, body: &[u8], flags: Flags) -> u64 {
        let id = self.next_id();
        self.write_frame(&frames::send(target, body, flags, id));
        id
    }

    /// Sends a SEND to every connection of `user`; returns its message id.
    pub fn send_to_user(&mut self, user: &str, body: &[u8], flags: Flags) -> u64 {
        self.send(frames::user_target(user), body, flags)
    }

    /// Subscribes to `topics` and waits for the ACK.
    pub fn subscribe(&mut self, topics: &[&str]) {
        let id = self.next_id();
        self.write_frame(&frames::subscribe(topics, Flags::ACK_REQUESTED, id));
        let ack = self.expect_frame(FrameType::Ack);
        assert_eq!(ack.header.message_id, id, "ACK answers the SUBSCRIBE");
    }

    /// Unsubscribes from `topics` and waits for the ACK.
    pub fn unsubscribe(&mut self, topics: &[&str]) {
        let id = self.next_id();
        self.write_frame(&frames::unsubscribe(topics, Flags::ACK_REQUESTED, id));
        let ack = self.expect_frame(FrameType::Ack);
        assert_eq!(ack.header.message_id, id, "ACK answers the UNSUBSCRIBE");
    }

    /// Sends a PING carrying `payload`; returns its message id.
    pub fn ping(&mut self, payload: &[u8]) -> u64 {
        let id = self.next_id();
        self.write_frame(&frames::ping(payload, id));
        id
    }

    /// PING, then read until its PONG: everything the server queued to
    /// this connection before the PING was handled arrives first and is
    /// returned.
    pub fn sync(&mut self) -> Vec<OwnedFrame> {
        let id = self.ping(b"sync");
        let mut before = Vec::new();
        loop {
            let f = self.read_frame(TIMEOUT).expect("waiting for PONG");
            if f.frame_type() == FrameType::Pong && f.header.message_id == id {
                return before;
            }
            before.push(f);
        }
    }

    /// The next frame, waiting at most `timeout`.
    pub fn read_frame(&mut self, timeout: Duration) -> Result<OwnedFrame, ReadError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(f) = self.inbox.pop_front() {
                return Ok(f);
            }
            if self.closed {
                return Err(ReadError::Closed);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ReadError::Timeout);
            }
            self.fill(left)?;
        }
    }

    /// The next frame, which must have type `t` (panics otherwise, or
    /// after [`TIMEOUT`]).
    pub fn expect_frame(&mut self, t: FrameType) -> OwnedFrame {
        let f = self
            .read_frame(TIMEOUT)
            .unwrap_or_else(|e| panic!("waiting for {t:?}: {e}"));
        f.expect_type(t);
        f
    }

    /// Reads until the server closes the connection; returns the frames
    /// that came before (panics after `timeout`).
    pub fn read_until_closed(&mut self, timeout: Duration) -> Vec<OwnedFrame> {
        let deadline = Instant::now() + timeout;
        let mut frames = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_frame(left) {
                Ok(f) => frames.push(f),
                Err(ReadError::Closed) => return frames,
                Err(e) => panic!("waiting for the server to close: {e}; frames so far {frames:?}"),
            }
        }
    }

    /// One read from the socket into the decoder.
    fn fill(&mut self, timeout: Duration) -> Result<(), ReadError> {
        self.stream
            .set_read_timeout(Some(timeout))
            .map_err(ReadError::Io)?;
        // On the stack, not in the client: ten thousand idle clients
        // should not hold a read buffer each.
        let mut buf = [0u8; READ_BUF_BYTES];
        let n = match self.stream.read(&mut buf) {
            Ok(0) => {
                self.closed = true;
                return Ok(());
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(ReadError::Timeout)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                self.closed = true;
                return Ok(());
            }
            Err(e) => return Err(ReadError::Io(e)),
        };
        let inbox = &mut self.inbox;
        self.decoder
            .feed(&buf[..n], |f| {
                inbox.push_back(OwnedFrame {
                    header: f.header,
                    payload: f.payload.to_vec(),
                });
                Control::Continue
            })
            .map_err(ReadError::Decode)?;
        Ok(())
    }
}
