//! [`UringBackend`]: placeholder until the io_uring backend lands; `new`
//! refuses, so start-up falls back to epoll.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use super::{Backend, BackendConfig, Completion, RecvBuf, SendBatch, Token, Waker};

/// The io_uring backend (not yet implemented: `new` always fails).
pub struct UringBackend {
    never: std::convert::Infallible,
}

impl UringBackend {
    /// Buffers not lent out.
    pub fn bufs_available(&self) -> usize {
        match self.never {}
    }
}

impl Backend for UringBackend {
    const NAME: &'static str = "uring";

    fn new(_config: &BackendConfig) -> io::Result<Self> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring backend not built yet",
        ))
    }

    fn add_listener(&mut self, _: TcpListener) -> io::Result<usize> {
        match self.never {}
    }
    fn close_listeners(&mut self) {
        match self.never {}
    }
    fn register(&mut self, _: Token, _: TcpStream) -> io::Result<()> {
        match self.never {}
    }
    fn pause_recv(&mut self, _: Token) {
        match self.never {}
    }
    fn resume_recv(&mut self, _: Token) {
        match self.never {}
    }
    fn send(&mut self, _: Token, _: SendBatch) {
        match self.never {}
    }
    fn close(&mut self, _: Token) {
        match self.never {}
    }
    fn watch_waker(&mut self, _: &Waker) -> io::Result<()> {
        match self.never {}
    }
    fn poll(&mut self, _: Option<Duration>, _: &mut Vec<Completion>) -> io::Result<()> {
        match self.never {}
    }
    fn buf(&self, _: &RecvBuf) -> &[u8] {
        match self.never {}
    }
    fn release(&mut self, _: RecvBuf) {
        match self.never {}
    }
}
