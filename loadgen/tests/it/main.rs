//! The load generator's end-to-end tests, one test binary: each module
//! starts a real server and runs `switchboard-loadgen` against it.

mod echo_baseline;
mod mqtt_mosquitto;

use std::process::Child;

pub const EXE: &str = env!("CARGO_BIN_EXE_switchboard-loadgen");

/// Kills the server even when an assertion fails.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The last JSON object of a `--json` file.
pub fn last_record(json: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(json).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}
