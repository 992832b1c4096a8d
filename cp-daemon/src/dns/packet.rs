//! The parse path for untrusted packets, and encoding of replies.
//!
//! Pure: bytes in, a decoded query or a verdict out. Invariant: nothing a
//! client sends can panic here or make us answer a response (which would let
//! two DNS servers ping-pong forever).

use hickory_proto::op::{Header, Message, MessageType, ResponseCode};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

/// Smallest DNS message: the 12-byte header.
pub const HEADER_LEN: usize = 12;

/// The classic UDP payload limit for clients without EDNS.
pub const UDP_CLASSIC: usize = 512;

/// What to do with an inbound datagram or TCP frame.
#[derive(Debug)]
pub enum Inbound {
    /// A well-formed query.
    Query(Message),
    /// Malformed but with a readable header: answer FORMERR (RFC 1035 4.1.1).
    FormErr(Vec<u8>),
    /// Too short for a header, or a response: drop silently.
    Drop,
}

/// Decodes one message from a client.
pub fn decode(bytes: &[u8]) -> Inbound {
    if bytes.len() < HEADER_LEN {
        return Inbound::Drop;
    }
    let header = match Header::read(&mut BinDecoder::new(bytes)) {
        Ok(h) => h,
        Err(_) => return Inbound::Drop,
    };
    if header.message_type() == MessageType::Response {
        return Inbound::Drop;
    }
    match Message::from_vec(bytes) {
        Ok(m) => Inbound::Query(m),
        Err(_) => {
            let mut h = Header::response_from_request(&header);
            h.set_response_code(ResponseCode::FormErr)
                .set_recursion_available(true);
            let mut m = Message::new();
            m.set_header(h);
            match m.to_vec() {
                Ok(b) => Inbound::FormErr(b),
                Err(_) => Inbound::Drop,
            }
        }
    }
}

/// The largest reply this client accepts over UDP.
pub fn udp_limit(req: &Message) -> usize {
    req.extensions()
        .as_ref()
        .map(|e| {
            usize::from(e.max_payload())
                .clamp(UDP_CLASSIC, usize::from(super::resolver::EDNS_PAYLOAD))
        })
        .unwrap_or(UDP_CLASSIC)
}

/// Encodes a reply; over `limit` bytes it drops the records and sets TC so
/// the client retries over TCP (RFC 1035 4.2.1). `None` if it cannot encode.
pub fn encode(mut reply: Message, limit: usize) -> Option<Vec<u8>> {
    let bytes = reply.to_vec().ok()?;
    if bytes.len() <= limit {
        return Some(bytes);
    }
    reply.take_answers();
    reply.take_name_servers();
    reply.take_additionals();
    reply.set_truncated(true);
    reply.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::{Name, RecordType};

    fn valid_query() -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(7).set_recursion_desired(true);
        m.add_query(Query::query(
            Name::from_ascii("web.alpha.coolify.internal.").unwrap(),
            RecordType::A,
        ));
        m.to_vec().unwrap()
    }

    #[test]
    fn a_valid_query_decodes() {
        assert!(matches!(decode(&valid_query()), Inbound::Query(_)));
    }

    #[test]
    fn short_packets_are_dropped() {
        for n in 0..HEADER_LEN {
            assert!(matches!(decode(&valid_query()[..n]), Inbound::Drop), "{n}");
        }
    }

    #[test]
    fn responses_are_dropped() {
        let mut b = valid_query();
        b[2] |= 0x80;
        assert!(matches!(decode(&b), Inbound::Drop));
    }

    #[test]
    fn truncated_body_is_formerr_with_the_same_id() {
        let b = valid_query();
        let Inbound::FormErr(reply) = decode(&b[..b.len() - 3]) else {
            panic!("expected FORMERR");
        };
        let m = Message::from_vec(&reply).unwrap();
        assert_eq!(m.id(), 7);
        assert_eq!(m.response_code(), ResponseCode::FormErr);
        assert_eq!(m.message_type(), MessageType::Response);
    }

    #[test]
    fn wrong_counts_are_formerr() {
        let mut b = valid_query();
        b[4..6].copy_from_slice(&3u16.to_be_bytes()); // qdcount 3, one present
        assert!(matches!(decode(&b), Inbound::FormErr(_)));
        let mut b = valid_query();
        b[6..8].copy_from_slice(&u16::MAX.to_be_bytes()); // ancount 65535
        assert!(matches!(decode(&b), Inbound::FormErr(_)));
    }

    #[test]
    fn compression_loop_is_formerr() {
        let mut b = valid_query()[..HEADER_LEN].to_vec();
        // A name that is a pointer to itself (offset 12).
        b.extend_from_slice(&[0xC0, 0x0C, 0x00, 0x01, 0x00, 0x01]);
        assert!(matches!(decode(&b), Inbound::FormErr(_)));
    }

    #[test]
    fn huge_label_is_formerr() {
        let mut b = valid_query()[..HEADER_LEN].to_vec();
        b.push(63);
        b.extend_from_slice(&[b'a'; 63]);
        // 70 labels of 63 bytes: far past the 255-byte name limit.
        for _ in 0..70 {
            b.push(63);
            b.extend_from_slice(&[b'a'; 63]);
        }
        b.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert!(matches!(decode(&b), Inbound::FormErr(_)));
        // A label length byte of 64..=191 is reserved / invalid.
        let mut b = valid_query()[..HEADER_LEN].to_vec();
        b.extend_from_slice(&[0x7F, b'a', 0, 0, 1, 0, 1]);
        assert!(matches!(decode(&b), Inbound::FormErr(_)));
    }

    #[test]
    fn oversized_reply_is_truncated_with_tc() {
        let req = Message::from_vec(&valid_query()).unwrap();
        let mut reply = super::super::resolver::reply(&req, ResponseCode::NoError, true);
        for i in 0..60u8 {
            reply.add_answer(hickory_proto::rr::Record::from_rdata(
                req.queries()[0].name().clone(),
                5,
                hickory_proto::rr::RData::A(hickory_proto::rr::rdata::A::new(198, 18, 0, i)),
            ));
        }
        let bytes = encode(reply.clone(), UDP_CLASSIC).unwrap();
        assert!(bytes.len() <= UDP_CLASSIC);
        let m = Message::from_vec(&bytes).unwrap();
        assert!(m.truncated());
        assert!(m.answers().is_empty());
        // TCP (64 KiB) carries all of them.
        let m = Message::from_vec(&encode(reply, usize::from(u16::MAX)).unwrap()).unwrap();
        assert_eq!(m.answers().len(), 60);
    }

    /// Property test of the parse path with a small deterministic PRNG (no
    /// extra crates): random bytes, and valid packets with random bytes
    /// flipped, cut or appended. Every input must yield a verdict, and every
    /// FORMERR must itself be a well-formed response.
    #[test]
    fn fuzz_parse_path_never_panics_and_formerr_is_well_formed() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let base = valid_query();
        for round in 0..50_000u32 {
            let mut b = if round % 3 == 0 {
                let len = (next() % 600) as usize;
                (0..len).map(|_| next() as u8).collect::<Vec<u8>>()
            } else {
                base.clone()
            };
            let flips = next() % 6;
            for _ in 0..flips {
                if b.is_empty() {
                    break;
                }
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
            }
            match next() % 4 {
                0 => {
                    let cut = (next() as usize) % (b.len() + 1);
                    b.truncate(cut);
                }
                1 => b.extend((0..(next() % 64)).map(|_| next() as u8)),
                _ => {}
            }
            match decode(&b) {
                Inbound::FormErr(reply) => {
                    let m = Message::from_vec(&reply).expect("FORMERR parses");
                    assert_eq!(m.response_code(), ResponseCode::FormErr);
                    assert_eq!(m.message_type(), MessageType::Response);
                    assert_eq!(&reply[..2], &b[..2], "same id");
                }
                Inbound::Query(m) => {
                    // Whatever decodes must also survive the resolver.
                    let r = super::super::resolver::Resolver::new(
                        "coolify.internal",
                        Some("alpha"),
                        &["alpha".into()],
                    )
                    .unwrap();
                    if let super::super::resolver::Decision::Reply(reply) =
                        r.respond(&m, &Default::default(), round as usize)
                    {
                        let _ = encode(reply, udp_limit(&m));
                    }
                }
                Inbound::Drop => {}
            }
        }
    }
}
