//! The gatekeeper's answers to ZAP requests (RFC 27).

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::guard::Guard;
use super::unauthorised::UnauthorisedLog;

/// The ZAP status of a refused peer: "400 = the client is not authorised" (RFC 27).
const ZAP_REFUSED: &[u8] = b"400";
const ZAP_ADMITTED: &[u8] = b"200";
/// The ZAP status for a request the handler cannot read (RFC 27: internal error).
const ZAP_MALFORMED: &[u8] = b"500";

/// The ZAP reply to `request` (RFC 27: version, request id, domain, address, identity,
/// mechanism, credentials; replied: version, request id, status code, status text, user id,
/// metadata).
pub(super) fn answer(
    request: &[Vec<u8>],
    guards: &mut BTreeMap<String, Guard>,
    unauthorised: &mut UnauthorisedLog,
) -> Vec<Vec<u8>> {
    let reply = |version: &[u8], id: &[u8], status: &[u8], text: String| {
        vec![
            version.to_vec(),
            id.to_vec(),
            status.to_vec(),
            text.into_bytes(),
            Vec::new(),
            Vec::new(),
        ]
    };
    let [version, id, domain, address, ..] = request else {
        let id = request.get(1).map_or(&[][..], Vec::as_slice);
        return reply(b"1.0", id, ZAP_MALFORMED, "malformed ZAP request".into());
    };
    let Some(guard) = std::str::from_utf8(domain)
        .ok()
        .and_then(|domain| guards.get_mut(domain))
    else {
        // Not a socket we guard (or one already closed): nothing to enforce.
        return reply(version, id, ZAP_ADMITTED, "OK".into());
    };
    let peer = String::from_utf8_lossy(address).into_owned();
    // Ironhouse: the CURVE client key (the credential of a CURVE request) must be authorised.
    // Checked first, so that an unauthorised peer is refused as such whatever the load.
    if let Some(authorized) = &guard.authorized_clients {
        let client_key = match request.get(5..7) {
            Some([mechanism, key]) if mechanism.as_slice() == b"CURVE" => {
                <[u8; 32]>::try_from(key.as_slice()).ok()
            }
            _ => None,
        };
        if !client_key.is_some_and(|key| authorized.contains(&sk2_proto::curve::PublicKey(key))) {
            let ip = peer.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
            unauthorised.refused(guard, ip, "its client key is not authorised");
            return reply(version, id, ZAP_REFUSED, "client key not authorised".into());
        }
    }
    // The connection under review was accepted, hence counted, before its request was sent.
    let peers = guard.counted();
    let from_address = peer
        .parse::<IpAddr>()
        .map_or(0, |ip| guard.held_by(ip.to_canonical()));
    let why = if peers > guard.caps.limit {
        format!("too many peers: {} allows {}", guard.role, guard.caps.limit)
    } else if from_address > guard.caps.per_address {
        format!(
            "too many peers from {peer}: {} allows {} per address",
            guard.role, guard.caps.per_address
        )
    } else {
        return reply(version, id, ZAP_ADMITTED, "OK".into());
    };
    guard.refused(&peer, &why);
    reply(version, id, ZAP_REFUSED, why)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::admission::guard::guard_with;
    use crate::connection::Ends;

    /// Ends of a connection from `peer` (an IPv4 address) to port 5555.
    fn ends(peer: &str, port: u16) -> Option<Ends> {
        Some(Ends {
            local: "127.0.0.1:5555".parse().unwrap(),
            peer: std::net::SocketAddr::new(peer.parse().unwrap(), port),
        })
    }

    fn request(domain: &str) -> Vec<Vec<u8>> {
        [
            b"1.0".as_slice(),
            b"7",
            domain.as_bytes(),
            b"10.0.0.9",
            b"",
            b"NULL",
        ]
        .map(<[u8]>::to_vec)
        .to_vec()
    }

    #[test]
    fn a_peer_is_admitted_up_to_the_limit_and_refused_with_400_past_it() {
        // Two connections counted, one of them the peer under review: within a limit of 2.
        let (mut guards, refused) = guard_with(2, 8, &[(10, None), (11, None)]);
        let reply = answer(&request("d"), &mut guards, &mut UnauthorisedLog::default());
        assert_eq!(
            reply[..3],
            [b"1.0".to_vec(), b"7".to_vec(), b"200".to_vec()]
        );
        assert_eq!(reply.len(), 6);
        // A third: refused, counted, and told why.
        guards.get_mut("d").unwrap().connected.insert(12, None);
        let reply = answer(&request("d"), &mut guards, &mut UnauthorisedLog::default());
        assert_eq!(reply[2], b"400");
        assert_eq!(reply[3], b"too many peers: depth allows 2");
        assert_eq!(refused.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn unknown_domains_are_admitted_and_malformed_requests_get_500() {
        let (mut guards, refused) = guard_with(0, 0, &[(1, None), (2, None), (3, None)]);
        assert_eq!(
            answer(
                &request("other"),
                &mut guards,
                &mut UnauthorisedLog::default()
            )[2],
            b"200"
        );
        assert_eq!(
            answer(
                &[b"1.0".to_vec()],
                &mut guards,
                &mut UnauthorisedLog::default()
            )[2],
            b"500"
        );
        assert_eq!(refused.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_peer_from_an_address_past_its_share_is_refused_while_others_are_admitted() {
        let (mut guards, refused) = guard_with(
            10,
            2,
            &[
                (1, ends("10.0.0.9", 4001)),
                (2, ends("10.0.0.9", 4002)),
                (3, ends("10.0.0.9", 4003)),
                (4, ends("10.0.0.7", 4001)),
            ],
        );
        // 10.0.0.9 holds three connections (the one under review included): past 2.
        let reply = answer(&request("d"), &mut guards, &mut UnauthorisedLog::default());
        assert_eq!(reply[2], b"400");
        assert_eq!(
            reply[3],
            b"too many peers from 10.0.0.9: depth allows 2 per address"
        );
        assert_eq!(refused.load(Ordering::Relaxed), 1);
        // 10.0.0.7 holds one.
        let mut other = request("d");
        other[3] = b"10.0.0.7".to_vec();
        assert_eq!(
            answer(&other, &mut guards, &mut UnauthorisedLog::default())[2],
            b"200"
        );
        // A connection being closed by the gatekeeper no longer counts.
        guards.get_mut("d").unwrap().closing.insert(3);
        assert_eq!(
            answer(&request("d"), &mut guards, &mut UnauthorisedLog::default())[2],
            b"200"
        );
    }

    #[test]
    fn with_authorised_keys_only_a_curve_request_with_a_listed_key_is_admitted() {
        use sk2_proto::curve::PublicKey;
        let (mut guards, refused) = guard_with(10, 10, &[(1, None)]);
        let guard = guards.get_mut("d").unwrap();
        guard.authorized_clients = Some(crate::security::AuthorizedClients::new(
            [PublicKey([7; 32])].into_iter().collect(),
        ));
        let unauthorised = std::sync::Arc::clone(&guard.counters.unauthorised);
        let curve = |key: [u8; 32]| {
            let mut request = request("d");
            request[5] = b"CURVE".to_vec();
            request.push(key.to_vec());
            request
        };
        let mut log = UnauthorisedLog::default();
        assert_eq!(answer(&curve([7; 32]), &mut guards, &mut log)[2], b"200");
        let reply = answer(&curve([8; 32]), &mut guards, &mut log);
        assert_eq!(reply[2], b"400");
        assert_eq!(reply[3], b"client key not authorised");
        // A NULL-mechanism request has no key: refused too.
        assert_eq!(answer(&request("d"), &mut guards, &mut log)[2], b"400");
        assert_eq!(unauthorised.load(Ordering::Relaxed), 2);
        assert_eq!(refused.load(Ordering::Relaxed), 0, "not a capacity refusal");
    }
}
