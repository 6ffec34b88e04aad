//! `switchboard-loadgen mqtt` against a real mosquitto on a free loopback
//! port: QoS 1 fan-in at a fixed rate (MQTT 3.1.1) and QoS 0 fan-out at
//! max (MQTT 5, with a keep-alive short enough that subscribers ping),
//! each for 2 s, with no error and nothing lost. Skipped, with a message,
//! where mosquitto is not installed (scripts/test.sh installs it).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{last_record, Server, EXE};

fn mosquitto_bin() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("mosquitto"))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_mosquitto(bin: &Path, dir: &Path) -> (Server, String) {
    let port = free_port();
    let conf = dir.join("mosquitto.conf");
    let text = format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n"
    );
    std::fs::write(&conf, text).unwrap();
    let child = Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mosquitto");
    let server = Server(child);
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "mosquitto did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, addr)
}

fn run(addr: &str, json: &Path, args: &[&str]) -> serde_json::Value {
    let status = Command::new(EXE)
        .args(["mqtt", "--addr", addr, "--duration", "2", "--warmup", "0.5"])
        .args(args)
        .arg("--json")
        .arg(json)
        .status()
        .expect("run loadgen");
    assert!(status.success());
    last_record(json)
}

fn assert_clean(r: &serde_json::Value, deliveries_per_message: u64) {
    let sent = r["sent"].as_u64().unwrap();
    assert!(sent > 0, "{r}");
    assert_eq!(
        r["received"].as_u64().unwrap(),
        sent * deliveries_per_message,
        "{r}"
    );
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["lost"], 0, "{r}");
    assert_eq!(r["duplicates"], 0, "{r}");
    assert_eq!(r["transport"], "mqtt", "{r}");
    assert!(r["latency_us"]["p99"].is_u64(), "{r}");
}

#[test]
fn fanin_and_fanout_against_mosquitto_lose_nothing() {
    let Some(bin) = mosquitto_bin() else {
        eprintln!("skipping: mosquitto is not installed (apt-get install mosquitto)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("lg-mqtt-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (server, addr) = start_mosquitto(&bin, &dir);
    let json = dir.join("runs.jsonl");

    let fanin = [
        "--scenario",
        "fanin",
        "--publishers",
        "4",
        "--subscribers",
        "2",
    ];
    let r = run(
        &addr,
        &json,
        &[&fanin[..], &["--qos", "1", "--rate", "2000"]].concat(),
    );
    assert_clean(&r, 2);
    assert_eq!(r["qos"], 1);
    assert_eq!(r["unacked"], 0, "every PUBLISH got its PUBACK: {r}");
    assert_eq!(r["acked"], r["sent_all"], "{r}");

    let fanout = [
        "--scenario",
        "fanout",
        "--subscribers",
        "3",
        "--rate",
        "max",
    ];
    let v5 = ["--mqtt-version", "5", "--keep-alive", "1"];
    let r = run(&addr, &json, &[&fanout[..], &v5[..]].concat());
    assert_clean(&r, 3);
    assert_eq!(r["mqtt_version"], "5");
    assert!(
        r["pings"].as_u64().unwrap() > 0,
        "silent subscribers ping: {r}"
    );

    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
