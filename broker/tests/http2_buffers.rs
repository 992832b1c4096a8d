//! The patched h2 (vendor/h2, COOLIFY-PATCH.md) starts every connection
//! without write, read or HPACK scratch buffers and gives them back while
//! the connection is idle. These tests drive h2's own client and server
//! over an in-memory pipe through exactly the paths that change: frames
//! larger than the buffers' starting sizes, header blocks that need
//! CONTINUATION frames, and a connection that idles (buffers released) and
//! is then used again.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use tokio::io::DuplexStream;

/// Bigger than one 16 KiB frame, the old 16 KiB write buffer and the 8 KiB
/// read buffer, and not a multiple of any of them.
const BODY_LEN: usize = 300_001;
/// One header value larger than a 16 KiB frame: the block must be split into
/// HEADERS + CONTINUATION frames.
const HEADER_LEN: usize = 40_000;
/// Everything here is in memory; a hang is a bug, not a slow machine.
const LIMIT: Duration = Duration::from_secs(20);

fn body(seed: u8) -> Bytes {
    (0..BODY_LEN)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

/// Huffman-incompressible-ish printable text, so the HPACK block stays large.
fn header_value(seed: u8) -> HeaderValue {
    let s: String = (0..HEADER_LEN)
        .map(|i| (b'!' + ((i * 7 + seed as usize) % 90) as u8) as char)
        .collect();
    HeaderValue::from_str(&s).unwrap()
}

async fn read_all(mut body: h2::RecvStream) -> Bytes {
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        body.flow_control().release_capacity(chunk.len()).unwrap();
        out.extend_from_slice(&chunk);
    }
    out.into()
}

async fn send_all(send: &mut h2::SendStream<Bytes>, data: Bytes) {
    // Respect flow control so large bodies go out as many DATA frames.
    let mut rest = data;
    while !rest.is_empty() {
        send.reserve_capacity(rest.len());
        let cap = std::future::poll_fn(|cx| send.poll_capacity(cx))
            .await
            .unwrap()
            .unwrap();
        let chunk = rest.split_to(cap.min(rest.len()));
        send.send_data(chunk, rest.is_empty()).unwrap();
    }
}

/// Echo server: answers each request with its `x-big` header and its body
/// reversed, so a byte that went astray in either direction shows.
async fn serve(io: DuplexStream) {
    let mut conn = h2::server::Builder::new()
        .max_header_list_size(1 << 20)
        .handshake::<_, Bytes>(io)
        .await
        .unwrap();
    while let Some(accepted) = conn.accept().await {
        let (req, mut respond) = accepted.unwrap();
        tokio::spawn(async move {
            let big = req.headers().get("x-big").cloned().unwrap();
            let got = read_all(req.into_body()).await;
            let mut back = got.to_vec();
            back.reverse();
            let resp = Response::builder().header("x-big", big).body(()).unwrap();
            let mut send = respond.send_response(resp, false).unwrap();
            send_all(&mut send, back.into()).await;
        });
    }
}

async fn round_trip(client: &mut h2::client::SendRequest<Bytes>, seed: u8) {
    let sent_header = header_value(seed);
    let sent = body(seed);
    let req = Request::post("http://test/echo")
        .header("x-big", sent_header.clone())
        .body(())
        .unwrap();
    let (resp, mut send) = client
        .clone()
        .ready()
        .await
        .unwrap()
        .send_request(req, false)
        .unwrap();
    send_all(&mut send, sent.clone()).await;
    let resp = resp.await.unwrap();
    assert_eq!(
        resp.headers().get("x-big"),
        Some(&sent_header),
        "header block changed in transit"
    );
    let got = read_all(resp.into_body()).await;
    let mut expected = sent.to_vec();
    expected.reverse();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "body changed in transit");
}

async fn connect() -> h2::client::SendRequest<Bytes> {
    // A pipe smaller than one frame, so every write and read is partial.
    let (client_io, server_io) = tokio::io::duplex(4096);
    tokio::spawn(serve(server_io));
    let (client, conn) = h2::client::Builder::new()
        .max_header_list_size(1 << 20)
        .handshake::<_, Bytes>(client_io)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

#[tokio::test]
async fn frames_larger_than_the_starting_buffers_cross_both_ways() {
    tokio::time::timeout(LIMIT, async {
        let mut client = connect().await;
        round_trip(&mut client, 1).await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn an_idle_connection_that_released_its_buffers_works_again() {
    tokio::time::timeout(LIMIT, async {
        let mut client = connect().await;
        round_trip(&mut client, 2).await;
        // Let both ends go idle (everything flushed, nothing to read), which
        // is when the buffers are given back.
        tokio::time::sleep(Duration::from_millis(50)).await;
        round_trip(&mut client, 3).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        round_trip(&mut client, 4).await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn concurrent_streams_share_the_connection_buffers_without_mixing() {
    tokio::time::timeout(LIMIT, async {
        let client = connect().await;
        let mut set = tokio::task::JoinSet::new();
        for seed in 10..18u8 {
            let mut c = client.clone();
            set.spawn(async move { round_trip(&mut c, seed).await });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
    })
    .await
    .unwrap();
}
