//! What one process measured: counters and a latency histogram, and their
//! JSON form, which carries the histogram as base64 of its HdrHistogram V2
//! serialization so the parent can merge children losslessly.

use anyhow::Context;
use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency recorded exactly: one minute, in µs. Larger values are
/// clamped to it rather than dropped, so they still count at the top.
const MAX_LATENCY_US: u64 = 60_000_000;

#[derive(Clone, Debug)]
pub struct Tally {
    /// Messages sent whose intended send time fell in the measured window.
    pub sent: u64,
    /// Deliveries of those messages.
    pub received: u64,
    /// ERROR frames, failed connections, broken streams.
    pub errors: u64,
    /// Connections opened and handshaken.
    pub connections: u64,
    /// Every send and every delivery, warm-up and drain included: their
    /// difference tells when a process has nothing left in flight.
    pub sent_all: u64,
    pub received_all: u64,
    /// MQTT QoS 1: PUBACKs the publishers received (warm-up and drain
    /// included, like `sent_all`).
    pub acked_all: u64,
    /// MQTT QoS 1: messages sent after their due time because the
    /// publisher's in-flight window was full when they fell due.
    pub window_full: u64,
    /// MQTT QoS 1: messages due in the window that a full window kept
    /// from being sent at all before the run ended.
    pub unsent: u64,
    /// MQTT: PINGRESPs received (keep-alive worked).
    pub pings: u64,
    /// Latency in µs from intended send time to receipt (normal lane).
    pub hist: Histogram<u64>,
    /// Of `sent` and `received`, the HIGH_PRIORITY messages (`--high-every`).
    pub sent_high: u64,
    pub received_high: u64,
    /// Latency of the high-lane messages, apart from `hist`.
    pub hist_high: Histogram<u64>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            sent: 0,
            received: 0,
            errors: 0,
            connections: 0,
            sent_all: 0,
            received_all: 0,
            acked_all: 0,
            window_full: 0,
            unsent: 0,
            pings: 0,
            hist: new_hist(),
            sent_high: 0,
            received_high: 0,
            hist_high: new_hist(),
        }
    }
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid bounds")
}

/// The wire form of a [`Tally`]: one JSON line on a child's stdout.
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
struct TallyJson {
    sent: u64,
    received: u64,
    errors: u64,
    connections: u64,
    sent_all: u64,
    received_all: u64,
    acked_all: u64,
    window_full: u64,
    unsent: u64,
    pings: u64,
    hist_v2_base64: String,
    sent_high: u64,
    received_high: u64,
    hist_high_v2_base64: String,
}

impl Tally {
    pub fn record_latency_us(&mut self, us: u64) {
        self.hist.saturating_record(us.min(MAX_LATENCY_US));
    }

    pub fn record_high_latency_us(&mut self, us: u64) {
        self.hist_high.saturating_record(us.min(MAX_LATENCY_US));
    }

    /// Adds another process's counts and samples to these.
    pub fn merge(&mut self, other: &Tally) -> anyhow::Result<()> {
        self.sent += other.sent;
        self.received += other.received;
        self.errors += other.errors;
        self.connections += other.connections;
        self.sent_all += other.sent_all;
        self.received_all += other.received_all;
        self.acked_all += other.acked_all;
        self.window_full += other.window_full;
        self.unsent += other.unsent;
        self.pings += other.pings;
        self.sent_high += other.sent_high;
        self.received_high += other.received_high;
        self.hist_high
            .add(&other.hist_high)
            .context("merging histograms")?;
        self.hist.add(&other.hist).context("merging histograms")
    }

    pub fn to_json_line(&self) -> anyhow::Result<String> {
        let j = TallyJson {
            sent: self.sent,
            received: self.received,
            errors: self.errors,
            connections: self.connections,
            sent_all: self.sent_all,
            received_all: self.received_all,
            acked_all: self.acked_all,
            window_full: self.window_full,
            unsent: self.unsent,
            pings: self.pings,
            hist_v2_base64: encode_hist(&self.hist)?,
            sent_high: self.sent_high,
            received_high: self.received_high,
            hist_high_v2_base64: encode_hist(&self.hist_high)?,
        };
        Ok(serde_json::to_string(&j)?)
    }

    pub fn from_json_line(line: &str) -> anyhow::Result<Tally> {
        let j: TallyJson = serde_json::from_str(line).context("child result line")?;
        Ok(Tally {
            sent: j.sent,
            received: j.received,
            errors: j.errors,
            connections: j.connections,
            sent_all: j.sent_all,
            received_all: j.received_all,
            acked_all: j.acked_all,
            window_full: j.window_full,
            unsent: j.unsent,
            pings: j.pings,
            hist: decode_hist(&j.hist_v2_base64)?,
            sent_high: j.sent_high,
            received_high: j.received_high,
            hist_high: decode_hist(&j.hist_high_v2_base64)?,
        })
    }
}

fn encode_hist(hist: &Histogram<u64>) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(hist, &mut bytes)
        .map_err(|e| anyhow::anyhow!("serializing histogram: {e:?}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn decode_hist(b64: &str) -> anyhow::Result<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .context("histogram base64")?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("deserializing histogram: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(values: &[u64], sent: u64) -> Tally {
        let mut t = Tally {
            sent,
            received: values.len() as u64,
            errors: 1,
            connections: 2,
            acked_all: 5,
            pings: 1,
            ..Tally::default()
        };
        for &v in values {
            t.record_latency_us(v);
        }
        t
    }

    #[test]
    fn merge_through_json_keeps_every_sample() {
        let a = sample(&[10, 20, 30, 5_000], 4);
        let b = sample(&[15, 25, 1_000_000], 3);
        let mut merged = Tally::default();
        for t in [&a, &b] {
            let line = t.to_json_line().unwrap();
            assert!(!line.contains('\n'));
            merged
                .merge(&Tally::from_json_line(&line).unwrap())
                .unwrap();
        }
        let mut direct = a.clone();
        direct.merge(&b).unwrap();
        assert_eq!(merged.hist, direct.hist);
        assert_eq!(merged.hist.len(), 7);
        assert_eq!(merged.sent, 7);
        assert_eq!(merged.received, 7);
        assert_eq!(merged.errors, 2);
        assert_eq!(merged.connections, 4);
        assert_eq!((merged.acked_all, merged.pings), (10, 2));
        assert_eq!(merged.hist.value_at_quantile(0.5), 25);
        assert!(merged.hist.max() >= 1_000_000 && merged.hist.max() < 1_001_000);
    }

    #[test]
    fn huge_latencies_are_clamped_not_lost() {
        let mut t = Tally::default();
        t.record_latency_us(u64::MAX / 2);
        assert_eq!(t.hist.len(), 1);
    }

    #[test]
    fn empty_tally_round_trips() {
        let t = Tally::default();
        let back = Tally::from_json_line(&t.to_json_line().unwrap()).unwrap();
        assert_eq!(back.hist.len(), 0);
    }
}
