//! Runs the loadgen against its own tokio echo baseline, end to end.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use super::{last_record, Server, EXE};

fn start_tokio_echo() -> (Server, String) {
    let mut child = Command::new(EXE)
        .args(["echo-server", "--impl", "tokio", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start echo server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("echo-server ready addr=")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (Server(child), addr)
}

fn run_echo(addr: &str, rate: &str, json: &std::path::Path) -> serde_json::Value {
    let status = Command::new(EXE)
        .args(["tcp", "--scenario", "echo", "--addr", addr])
        .args(["--connections", "4", "--rate", rate, "--duration", "1"])
        .args(["--warmup", "0.2", "--label", "it"])
        .arg("--json")
        .arg(json)
        .status()
        .expect("run loadgen");
    assert!(status.success());
    last_record(json)
}

#[test]
fn echo_against_the_tokio_baseline_loses_nothing() {
    let (server, addr) = start_tokio_echo();
    let json = std::env::temp_dir().join(format!("lg-it-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&json);
    for rate in ["2000", "max"] {
        let r = run_echo(&addr, rate, &json);
        let sent = r["sent"].as_u64().unwrap();
        assert!(sent > 0, "{r}");
        assert_eq!(r["received"].as_u64().unwrap(), sent, "{r}");
        assert_eq!(r["errors"].as_u64().unwrap(), 0, "{r}");
        assert_eq!(r["label"], "it");
        assert!(r["latency_us"]["p50"].is_u64(), "{r}");
    }
    assert_eq!(std::fs::read_to_string(&json).unwrap().lines().count(), 2);
    let _ = std::fs::remove_file(&json);
    drop(server);
}
