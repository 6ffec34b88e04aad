//! Backend tests: one body per behaviour in [`cases`], run against both
//! backends over real loopback sockets.

mod cases;
mod harness;

/// Instantiates a shared test body once per backend.
macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[test]
            fn epoll() {
                super::cases::$case::<crate::sys::epoll::EpollBackend>();
            }

            #[test]
            fn uring() {
                super::cases::$case::<crate::sys::uring::UringBackend>();
            }
        }
    )*};
}

both_backends!(
    echo_roundtrip,
    many_connections,
    bulk_echo_tiny_pool,
    pool_exhaustion_resumes,
    pause_resume,
    close_while_receiving,
    shutdown_write_keeps_reading,
    waker_wakes_poll,
    poll_timeout_returns,
    send_to_reset_peer_and_close_listeners,
    invalid_config_is_an_error,
    detach_hands_over,
);
