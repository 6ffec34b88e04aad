//! Results: a human summary on stdout and, with `--json`, one JSON object
//! per run appended to a file.

use std::io::Write;

use serde_json::{json, Value};

use crate::cli::{LoadArgs, Rate, Scenario};
use crate::tally::Tally;
use crate::transport::Payload;

/// What was read from the server process, where `--server-pid` was given.
#[derive(Clone, Debug, Default)]
pub struct ServerSamples {
    /// VmRSS before any connection opened.
    pub rss_before: Option<u64>,
    /// VmRSS with every connection open and settled (idle scenario).
    pub rss_connected: Option<u64>,
    /// VmRSS at the start and end of the measured window.
    pub rss_start: Option<u64>,
    pub rss_end: Option<u64>,
    /// Server CPU time over the measured window: in all, and split into
    /// user and kernel time (/proc/PID/stat utime and stime, every thread).
    pub cpu_us: Option<u64>,
    pub cpu_user_us: Option<u64>,
    pub cpu_kernel_us: Option<u64>,
    /// The load generator's own CPU time (all its processes) over the window.
    pub loadgen_cpu_us: Option<u64>,
    /// CPU time the rest of the machine used over the window: other
    /// people's work, which disturbs the measurement.
    pub other_cpu_us: Option<u64>,
}

pub fn emit(args: &LoadArgs, tally: &Tally, samples: &ServerSamples) -> anyhow::Result<()> {
    let record = record(args, tally, samples);
    print!("{}", summary(&record));
    if let Some(path) = &args.json {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(f, "{}", serde_json::to_string(&record)?)?;
    }
    Ok(())
}

fn record(args: &LoadArgs, t: &Tally, s: &ServerSamples) -> Value {
    let throughput = t.received as f64 / args.duration;
    let per_msg = |us: Option<u64>| {
        us.filter(|_| t.received > 0)
            .map(|us| us as f64 / t.received as f64)
    };
    // Percent of one core over the window.
    let pct = |us: Option<u64>| us.map(|us| us as f64 / (args.duration * 1e4));
    let per_conn = match (args.scenario(), s.rss_before, s.rss_connected) {
        (Scenario::Idle, Some(a), Some(b)) if t.connections > 0 => {
            Some((b as i64 - a as i64) / t.connections as i64)
        }
        _ => None,
    };
    let rate = match (args.scenario(), args.rate) {
        // A storm client reconnects as fast as it can: no rate.
        (Scenario::Idle | Scenario::Storm, _) => Value::Null,
        (_, Rate::PerSecond(r)) => json!(r),
        (_, Rate::Max) => json!("max"),
    };
    let fixed_rate = matches!(args.rate, Rate::PerSecond(_))
        && !matches!(args.scenario(), Scenario::Idle | Scenario::Storm);
    let ws = args.ws_setup();
    let mut record = json!({
        "date": iso_utc(crate::clock::unix_ns() / 1_000_000_000),
        "git_commit": git_commit(),
        "machine": { "nproc": nproc(), "kernel": kernel() },
        "transport": args.transport_name(),
        "ws_path": ws.as_ref().map(|w| w.path.clone()),
        "compression": ws.as_ref().map(|w| w.compression),
        "text": ws.as_ref().map(|w| w.payload == Payload::Text),
        "scenario": args.scenario().to_string(),
        "addr": args.addr().to_string(),
        "connections": args.total_connections(),
        "connections_open": t.connections,
        "size": args.size,
        "rate": rate,
        "pacing": fixed_rate.then(|| args.pacing.to_string()),
        "burst_interval_us": (fixed_rate && args.burst_ns() > 0).then_some(args.burst_interval_us),
        "pipeline": args.pipeline,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "processes": args.process_count(),
        "source_ips": args.source_ips.as_ref().map(|r| r.0.len()),
        "subscribers": matches!(args.scenario(), Scenario::Fanout | Scenario::Fanin)
            .then(|| args.subscriber_count()),
        "raw": args.raw,
        "server_pid": args.server_pid,
        "label": args.label,
        "sent": t.sent,
        "received": t.received,
        "expected": expected(args, t),
        "errors": t.errors,
        "throughput_msgs_per_s": throughput,
        "latency_us": latency(&t.hist),
        "loadgen_cpu_pct": pct(s.loadgen_cpu_us),
        "other_cpu_pct": pct(s.other_cpu_us),
        "server_rss_before": s.rss_before,
        "server_rss_connected": s.rss_connected,
        "server_rss_start": s.rss_start,
        "server_rss_end": s.rss_end,
        "rss_per_conn_bytes": per_conn,
        "command": command_line(),
    });
    // Split off: one `json!` this size would pass the macro recursion limit.
    let server_cpu = json!({
        "server_cpu_us_per_msg": per_msg(s.cpu_us),
        "server_user_us_per_msg": per_msg(s.cpu_user_us),
        "server_kernel_us_per_msg": per_msg(s.cpu_kernel_us),
        "server_cpu_pct": pct(s.cpu_us),
        "server_user_cpu_pct": pct(s.cpu_user_us),
        "server_kernel_cpu_pct": pct(s.cpu_kernel_us),
    });
    let mut extras = vec![server_cpu];
    extras.push(priority_fields(args, t));
    if args.mqtt.is_some() {
        extras.push(mqtt_fields(args, t));
    }
    for extra in extras {
        if let (Some(r), Value::Object(m)) = (record.as_object_mut(), extra) {
            r.extend(m);
        }
    }
    record
}

/// The priority options, and the high lane's counts and latency apart.
fn priority_fields(args: &LoadArgs, t: &Tally) -> Value {
    let high = args.high_every > 0;
    json!({
        "high_every": high.then_some(args.high_every),
        "droppable": args.droppable,
        "read_bytes_per_s": (args.read_bytes_per_s > 0).then_some(args.read_bytes_per_s),
        "rcvbuf_bytes": (args.rcvbuf_bytes > 0).then_some(args.rcvbuf_bytes),
        "sent_all": t.sent_all,
        "received_all": t.received_all,
        "sent_high": high.then_some(t.sent_high),
        "received_high": high.then_some(t.received_high),
        "high_latency_us": high.then(|| latency(&t.hist_high)),
    })
}

/// Deliveries the window's messages should produce.
fn expected(args: &LoadArgs, t: &Tally) -> u64 {
    t.sent * args.deliveries_per_message()
}

/// What only an MQTT run has: its options, publishes/s beside deliveries/s,
/// and the end-of-run accounting (lost, duplicated, unacked, unsent).
fn mqtt_fields(args: &LoadArgs, t: &Tally) -> Value {
    let Some(m) = &args.mqtt else {
        return Value::Null;
    };
    let expected_all = t.sent_all * args.deliveries_per_message();
    let publishers = match args.scenario() {
        Scenario::Fanin | Scenario::Fanout => Some(args.publisher_count()),
        Scenario::Pairs => Some(args.connections),
        Scenario::Idle | Scenario::Echo | Scenario::Storm => None,
    };
    let qos1 = m.qos == 1;
    json!({
        "mqtt_version": m.mqtt_version.name(),
        "qos": m.qos,
        "publishers": publishers,
        "inflight": qos1.then_some(m.inflight),
        "keep_alive_s": m.keep_alive,
        "topic_prefix": m.topic_prefix,
        "session_expiry_s": (args.scenario() == Scenario::Storm).then_some(m.session_expiry),
        "publishes_per_s": t.sent as f64 / args.duration,
        "deliveries_per_s": t.received as f64 / args.duration,
        "sent_all": t.sent_all,
        "received_all": t.received_all,
        "lost": expected_all.saturating_sub(t.received_all),
        "duplicates": t.received_all.saturating_sub(expected_all),
        "acked": qos1.then_some(t.acked_all),
        "unacked": qos1.then(|| t.sent_all.saturating_sub(t.acked_all)),
        "window_full": qos1.then_some(t.window_full),
        "window_limited": qos1 && (t.window_full > 0 || t.unsent > 0),
        "unsent": qos1.then_some(t.unsent),
        "pings": t.pings,
    })
}

/// Percentiles of one histogram (with `--high-every`, `latency_us` is
/// the normal lane's and `high_latency_us` the high lane's).
fn latency(hist: &hdrhistogram::Histogram<u64>) -> Value {
    if hist.is_empty() {
        return Value::Null;
    }
    let q = |q: f64| hist.value_at_quantile(q);
    json!({
        "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999),
        "max": hist.max(),
    })
}

fn summary(r: &Value) -> String {
    let f = |k: &str| match &r[k] {
        Value::Null => "-".to_string(),
        Value::Number(n) if n.is_f64() => format!("{:.2}", n.as_f64().unwrap_or(0.0)),
        v => v.to_string(),
    };
    let lat = |which: &str, k: &str| match &r[which][k] {
        Value::Null => "-".to_string(),
        v => v.to_string(),
    };
    let pacing = match (r["pacing"].as_str(), r["burst_interval_us"].as_u64()) {
        (Some(p), Some(us)) => format!(" pacing={p}/{us}us"),
        (Some(p), None) => format!(" pacing={p}"),
        _ => String::new(),
    };
    let l = |k: &str| lat("latency_us", k);
    let mut s = format!(
        "{} scenario={} rate={}{} connections={} label={}\n",
        r["transport"].as_str().unwrap_or(""),
        r["scenario"].as_str().unwrap_or(""),
        f("rate").trim_matches('"'),
        pacing,
        r["connections"],
        r["label"].as_str().unwrap_or("-"),
    );
    s += &format!(
        "  sent={} received={} (expected {}) errors={}\n",
        f("sent"),
        f("received"),
        f("expected"),
        f("errors")
    );
    if r["transport"] == "mqtt" {
        s += &mqtt_summary(r, &f);
    } else {
        s += &format!("  throughput: {} msgs/s\n", f("throughput_msgs_per_s"));
    }
    s += &format!(
        "  latency us: p50={} p90={} p99={} p99.9={} max={}\n",
        l("p50"),
        l("p90"),
        l("p99"),
        l("p999"),
        l("max")
    );
    if !r["high_latency_us"].is_null() {
        let h = |k: &str| lat("high_latency_us", k);
        s += &format!(
            "  (that is the normal lane) high lane: sent={} received={}; latency us: p50={} p90={} p99={} p99.9={} max={}\n",
            f("sent_high"),
            f("received_high"),
            h("p50"),
            h("p90"),
            h("p99"),
            h("p999"),
            h("max")
        );
    }
    s += &format!(
        "  loadgen: {} % cpu; rest of the machine: {} % cpu\n",
        f("loadgen_cpu_pct"),
        f("other_cpu_pct")
    );
    s += &format!(
        "  server: cpu {} us/msg (user {}, kernel {}), {} % cpu (user {}, kernel {}), rss {} -> {} bytes",
        f("server_cpu_us_per_msg"),
        f("server_user_us_per_msg"),
        f("server_kernel_us_per_msg"),
        f("server_cpu_pct"),
        f("server_user_cpu_pct"),
        f("server_kernel_cpu_pct"),
        f("server_rss_start"),
        f("server_rss_end"),
    );
    if !r["rss_per_conn_bytes"].is_null() {
        s += &format!(", {} bytes/idle connection", f("rss_per_conn_bytes"));
    }
    s + "\n"
}

/// The MQTT lines of the summary: rates, and the end-of-run accounting.
fn mqtt_summary(r: &Value, f: &dyn Fn(&str) -> String) -> String {
    if r["scenario"] == "storm" {
        return format!(
            "  mqtt {} storm: {} CONNECTs, {} CONNACKs/s; a msg below is a CONNACK, \
             latency from TCP connect to CONNACK\n",
            r["mqtt_version"].as_str().unwrap_or("?"),
            f("sent"),
            f("deliveries_per_s"),
        );
    }
    let mut s = format!(
        "  mqtt {} qos {}: {} publishes/s, {} deliveries/s; lost {} duplicates {} pings {}\n",
        r["mqtt_version"].as_str().unwrap_or("?"),
        f("qos"),
        f("publishes_per_s"),
        f("deliveries_per_s"),
        f("lost"),
        f("duplicates"),
        f("pings"),
    );
    if r["qos"] == 1 {
        s += &format!(
            "  qos 1: acked {} unacked {}; window {}: {} publishes waited for it, {} never sent\n",
            f("acked"),
            f("unacked"),
            f("inflight"),
            f("window_full"),
            f("unsent"),
        );
        if r["window_limited"] == true {
            s += "  the --inflight window limited the offered rate: its waits count as latency\n";
        }
    }
    s
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds.
pub fn iso_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01, counting in
/// 400-year eras (146,097 days each) whose years start on March 1st, so
/// the leap day falls at the end of a year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days from 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of March-based year
    let mp = (5 * doy + 2) / 153; // month, March = 0
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !s.trim().is_empty()).then(|| s.trim().to_string())
}

/// CPUs online in the machine. Not `available_parallelism`: that counts
/// only the CPUs this process may run on, one when pinned by `taskset`.
fn nproc() -> Option<usize> {
    let s = std::fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    count_cpu_list(s.trim())
}

/// Counts a kernel CPU list such as `0-3,6,8-9`.
fn count_cpu_list(list: &str) -> Option<usize> {
    list.split(',').try_fold(0, |n, part| {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
        Some(n + b.checked_sub(a)? + 1)
    })
}

fn kernel() -> Option<String> {
    let s = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    Some(s.trim().to_string())
}

/// The command line as typed, quoting arguments that need it.
fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@".contains(c))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> LoadArgs {
        let cli = <crate::cli::Cli as clap::Parser>::parse_from(argv);
        match cli.command {
            crate::cli::Command::Tcp(a) => *a,
            crate::cli::Command::Ws(w) => w.into_load(),
            crate::cli::Command::Mqtt(m) => m.into_load(),
            crate::cli::Command::EchoServer(_) => panic!("not a load command"),
        }
    }

    /// Server CPU of 1,000 deliveries: 3 ms user and 1 ms kernel.
    fn record_of(args: &LoadArgs) -> Value {
        let t = Tally {
            received: 1_000,
            ..Tally::default()
        };
        let s = ServerSamples {
            cpu_us: Some(4_000),
            cpu_user_us: Some(3_000),
            cpu_kernel_us: Some(1_000),
            ..ServerSamples::default()
        };
        record(args, &t, &s)
    }

    #[test]
    fn server_cpu_is_split_into_user_and_kernel_for_every_transport() {
        for transport in ["tcp", "ws", "mqtt"] {
            let r = record_of(&parse(&["lg", transport, "--duration", "2"]));
            assert_eq!(r["server_cpu_us_per_msg"], 4.0, "{transport}");
            assert_eq!(r["server_user_us_per_msg"], 3.0, "{transport}");
            assert_eq!(r["server_kernel_us_per_msg"], 1.0, "{transport}");
            assert_eq!(r["server_user_cpu_pct"], 0.15, "{transport}");
            assert_eq!(r["server_kernel_cpu_pct"], 0.05, "{transport}");
            let text = summary(&r);
            assert!(text.contains("(user 3.00, kernel 1.00)"), "{text}");
        }
    }

    #[test]
    fn the_result_carries_its_pacing() {
        let even = record_of(&parse(&["lg", "mqtt", "--rate", "20000"]));
        assert_eq!(even["pacing"], "even");
        assert!(even["burst_interval_us"].is_null());
        let burst = record_of(&parse(&[
            "lg", "mqtt", "--rate", "20000", "--pacing", "burst",
        ]));
        assert_eq!(burst["pacing"], "burst");
        assert_eq!(burst["burst_interval_us"], 1000);
        assert!(summary(&burst).contains("rate=20000 pacing=burst/1000us"));
        let closed = record_of(&parse(&["lg", "tcp", "--rate", "max"]));
        assert!(closed["pacing"].is_null());
        let args = parse(&["lg", "ws", "--rate", "max", "--pacing", "burst"]);
        assert!(args.validate().is_err(), "bursts need a fixed rate");
        let args = parse(&["lg", "tcp", "--pacing", "burst", "--burst-interval-us", "0"]);
        assert!(args.validate().is_err());
        let args = parse(&[
            "lg",
            "tcp",
            "--pacing",
            "burst",
            "--burst-interval-us",
            "250",
        ]);
        assert_eq!(args.burst_ns(), 250_000);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(count_cpu_list("0-1"), Some(2));
        assert_eq!(count_cpu_list("0"), Some(1));
        assert_eq!(count_cpu_list("0-3,6,8-9"), Some(7));
        assert_eq!(count_cpu_list("x"), None);
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso_utc(1_735_689_599), "2024-12-31T23:59:59Z");
        assert_eq!(iso_utc(4_107_542_400), "2100-03-01T00:00:00Z");
    }
}
