//! The opening handshake, both sides, and permessage-deflate negotiation.

use wire::ws::deflate::offer_value;
use wire::ws::{
    accept_key, accept_response, negotiate, parse_response, parse_upgrade, write_accept,
    write_request, DeflateConfig, DeflateParams, HandshakeError, HandshakeLimits,
};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const LIMITS: HandshakeLimits = HandshakeLimits {
    max_request_bytes: 8192,
    max_headers: 32,
};

fn request(lines: &[&str]) -> Vec<u8> {
    let mut s = lines.join("\r\n");
    s.push_str("\r\n\r\n");
    s.into_bytes()
}

const GOOD: [&str; 6] = [
    "GET /chat HTTP/1.1",
    "Host: server.example.com",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
];

fn status(lines: &[&str]) -> u16 {
    parse_upgrade(&request(lines), &LIMITS).unwrap_err().status
}

#[test]
fn rfc_sample_key() {
    assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

#[test]
fn chromium_like_request() {
    let req = request(&[
        "GET /ws?room=1 HTTP/1.1",
        "Host: localhost:8080",
        "Connection: keep-alive, Upgrade",
        "Pragma: no-cache",
        "Cache-Control: no-cache",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0.0.0 Safari/537.36",
        "Upgrade: websocket",
        "Origin: http://localhost:8080",
        "Sec-WebSocket-Version: 13",
        "Accept-Encoding: gzip, deflate, br",
        "Accept-Language: en-US,en;q=0.9",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "Sec-WebSocket-Protocol: chat.v2, chat.v1",
    ]);
    let mut buf = req.clone();
    buf.extend([0x81, 0x80]); // frames may follow the head
    let up = parse_upgrade(&buf, &LIMITS).unwrap().unwrap();
    assert_eq!(up.consumed, req.len());
    assert_eq!(up.path, "/ws?room=1");
    assert_eq!(up.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(up.protocols, ["chat.v2", "chat.v1"]);
    assert_eq!(up.origin.as_deref(), Some("http://localhost:8080"));
    let ext = up.extensions.unwrap();
    assert_eq!(ext, "permessage-deflate; client_max_window_bits");
    let params = negotiate(&ext, &DeflateConfig::default()).unwrap();
    let mut out = Vec::new();
    write_accept(&mut out, &up.accept, Some("chat.v2"), Some(&params));
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert!(text.contains("Sec-WebSocket-Protocol: chat.v2\r\n"));
    assert!(text.contains("Sec-WebSocket-Extensions: permessage-deflate\r\n"));
    assert!(text.ends_with("\r\n\r\n"));
}

#[test]
fn incomplete_requests_ask_for_more() {
    let req = request(&GOOD);
    for end in 0..req.len() {
        assert_eq!(parse_upgrade(&req[..end], &LIMITS), Ok(None), "at {end}");
    }
    assert!(parse_upgrade(&req, &LIMITS).unwrap().is_some());
}

#[test]
fn every_error_status() {
    let with = |i: usize, line: &'static str| {
        let mut l = GOOD.to_vec();
        l[i] = line;
        l
    };
    let without = |i: usize| {
        let mut l = GOOD.to_vec();
        l.remove(i);
        l
    };
    assert_eq!(status(&with(0, "POST /chat HTTP/1.1")), 405);
    assert_eq!(status(&with(0, "GET /chat HTTP/1.0")), 400);
    assert_eq!(status(&without(1)), 400);
    assert_eq!(status(&without(2)), 426);
    assert_eq!(status(&with(2, "Upgrade: h2c")), 400);
    assert_eq!(status(&without(3)), 400);
    assert_eq!(status(&with(3, "Connection: keep-alive")), 400);
    assert_eq!(status(&without(4)), 400);
    assert_eq!(status(&with(4, "Sec-WebSocket-Key: c2hvcnQ=")), 400);
    assert_eq!(status(&with(4, "Sec-WebSocket-Key: !!!")), 400);
    assert_eq!(status(&without(5)), 426);
    assert_eq!(status(&with(5, "Sec-WebSocket-Version: 8")), 426);
    let mut dup = GOOD.to_vec();
    dup.push("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(status(&dup), 400);
    assert_eq!(
        parse_upgrade(b"\x16\x03\x01garbage\r\n\r\n", &LIMITS)
            .unwrap_err()
            .status,
        400
    );
}

#[test]
fn oversize_requests_get_431() {
    let big = format!("X-Pad: {}", "a".repeat(9000));
    let mut lines = GOOD.to_vec();
    lines.insert(1, &big);
    assert_eq!(status(&lines), 431);
    // Still incomplete, but already over the limit.
    let req = request(&lines);
    assert_eq!(
        parse_upgrade(&req[..8500], &LIMITS).unwrap_err().status,
        431
    );
    let many: Vec<String> = (0..40).map(|i| format!("X-H{i}: v")).collect();
    let mut lines = GOOD.to_vec();
    lines.extend(many.iter().map(String::as_str));
    assert_eq!(status(&lines), 431);
}

#[test]
fn error_responses_are_whole_http_responses() {
    let mut out = Vec::new();
    HandshakeError {
        status: 426,
        reason: "x",
    }
    .write_response(&mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
    assert!(text.contains("Sec-WebSocket-Version: 13\r\n"));
    assert!(text.contains("Connection: close\r\n"));
    assert!(text.ends_with("\r\n\r\nx\n") && text.contains("Content-Length: 2\r\n"));
    let mut out = Vec::new();
    HandshakeError {
        status: 405,
        reason: "m",
    }
    .write_response(&mut out);
    assert!(String::from_utf8(out).unwrap().contains("Allow: GET\r\n"));
}

#[test]
fn client_and_server_agree() {
    let cfg = DeflateConfig {
        client_no_context_takeover: true,
        server_max_window_bits: 10,
        ..DeflateConfig::default()
    };
    let mut req = Vec::new();
    write_request(&mut req, "example.com", "/x", KEY, &["a", "b"], Some(&cfg));
    let up = parse_upgrade(&req, &LIMITS).unwrap().unwrap();
    assert_eq!(up.protocols, ["a", "b"]);
    let server_params =
        negotiate(up.extensions.as_deref().unwrap(), &DeflateConfig::default()).unwrap();
    let mut res = Vec::new();
    write_accept(&mut res, &up.accept, Some("b"), Some(&server_params));
    for end in 0..res.len() {
        assert_eq!(
            parse_response(&res[..end], KEY, Some(&cfg), &LIMITS),
            Ok(None)
        );
    }
    let hs = parse_response(&res, KEY, Some(&cfg), &LIMITS)
        .unwrap()
        .unwrap();
    assert_eq!(hs.consumed, res.len());
    assert_eq!(hs.protocol.as_deref(), Some("b"));
    assert_eq!(hs.deflate, Some(server_params));
    assert_eq!(
        server_params,
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: true,
            server_max_window_bits: 10,
            client_max_window_bits: 15,
        }
    );
    // A wrong accept key, a refusal, an extension we did not offer.
    assert_eq!(
        parse_response(&res, "AAAAAAAAAAAAAAAAAAAAAA==", Some(&cfg), &LIMITS)
            .unwrap_err()
            .status,
        101
    );
    assert_eq!(
        parse_response(&res, KEY, None, &LIMITS).unwrap_err().status,
        101
    );
    let refused = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(
        parse_response(refused, KEY, None, &LIMITS)
            .unwrap_err()
            .status,
        403
    );
}

#[test]
fn negotiation_follows_rfc7692() {
    let cfg = DeflateConfig::default();
    let p = |s: &str| negotiate(s, &cfg);
    assert_eq!(p("x-webkit-deflate-frame"), None);
    assert_eq!(
        p("permessage-deflate; server_no_context_takeover; server_no_context_takeover"),
        None
    );
    assert_eq!(p("permessage-deflate; client_max_window_bits=16"), None);
    assert_eq!(p("permessage-deflate; client_max_window_bits=07"), None);
    assert_eq!(p("permessage-deflate; server_max_window_bits"), None);
    assert_eq!(p("permessage-deflate; server_no_context_takeover=1"), None);
    assert_eq!(p("permessage-deflate; unknown"), None);
    // The first acceptable offer wins.
    let got = p("permessage-deflate; bogus, permessage-deflate; server_max_window_bits=\"12\"; client_max_window_bits").unwrap();
    assert_eq!(
        (got.server_max_window_bits, got.client_max_window_bits),
        (12, 15)
    );
    // client_max_window_bits without a value lets us pick; not offered means 15.
    let small = DeflateConfig {
        client_max_window_bits: 9,
        ..cfg.clone()
    };
    assert_eq!(
        negotiate("permessage-deflate; client_max_window_bits", &small)
            .unwrap()
            .client_max_window_bits,
        9
    );
    assert_eq!(
        negotiate("permessage-deflate", &small)
            .unwrap()
            .client_max_window_bits,
        15
    );
    assert_eq!(
        negotiate(
            "permessage-deflate",
            &DeflateConfig {
                enabled: false,
                ..cfg.clone()
            }
        ),
        None
    );
    assert_eq!(
        p("permessage-deflate; server_max_window_bits=8")
            .unwrap()
            .server_max_window_bits,
        8
    );
}

#[test]
fn the_client_checks_the_answer() {
    let cfg = DeflateConfig {
        server_no_context_takeover: true,
        server_max_window_bits: 12,
        ..DeflateConfig::default()
    };
    assert_eq!(offer_value(&cfg), "permessage-deflate; server_no_context_takeover; server_max_window_bits=12; client_max_window_bits");
    let ok = accept_response("permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11", &cfg).unwrap();
    assert_eq!(
        (ok.server_max_window_bits, ok.client_max_window_bits),
        (10, 11)
    );
    for bad in [
        "permessage-deflate; server_max_window_bits=10",
        "permessage-deflate; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=13",
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits",
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10, permessage-deflate",
        "x-other",
    ] {
        assert!(accept_response(bad, &cfg).is_err(), "{bad}");
    }
}
