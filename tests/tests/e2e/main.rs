//! End-to-end tests: each test starts the real `switchboard` binary on
//! loopback port 0 and drives it over real sockets with `wire` clients.
//!
//! Every scenario is a `fn(Backend)` instantiated once per backend by
//! [`both_backends!`], so `cargo test uring::` or `cargo test epoll::`
//! runs one backend.

/// Instantiates each listed `fn(Backend)` as a test per backend:
/// `<module>::uring::<name>` and `<module>::epoll::<name>`. An attribute
/// before a `;` (`#[ignore = "why"];`) goes on every one of them.
macro_rules! both_backends {
    (#[$attr:meta]; $($name:ident),+ $(,)?) => {
        mod uring {
            $(
                #[test]
                #[$attr]
                fn $name() {
                    super::$name(e2e::Backend::Uring)
                }
            )+
        }
        mod epoll {
            $(
                #[test]
                #[$attr]
                fn $name() {
                    super::$name(e2e::Backend::Epoll)
                }
            )+
        }
    };
    ($($name:ident),+ $(,)?) => {
        mod uring {
            $(
                #[test]
                fn $name() {
                    super::$name(e2e::Backend::Uring)
                }
            )+
        }
        mod epoll {
            $(
                #[test]
                fn $name() {
                    super::$name(e2e::Backend::Epoll)
                }
            )+
        }
    };
}

mod backpressure;
mod basic;
mod drain;
mod errors;
mod mqtt_auth;
mod mqtt_bad_input;
mod mqtt_churn;
mod mqtt_cli;
mod mqtt_cross;
mod mqtt_js;
mod mqtt_moves;
mod mqtt_paho;
mod mqtt_ws_keepalive;
mod order;
mod priority;
mod routing;
mod scale;
mod split;
mod wire_rules;
mod ws_bad_input;
mod ws_browser;
mod ws_python;
