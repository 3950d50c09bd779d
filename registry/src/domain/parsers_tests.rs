//! Property tests (proptest) of the domain's parsers of outside input: page tokens, cron
//! expressions with their time zones, and webhook receiver URLs (with the rule that an
//! internal address is never let through, however it is written). For each: any input
//! is answered without a panic, a value that parses round-trips, and a refusal names
//! what was wrong.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{TimeZone, Utc};
use proptest::prelude::*;

use super::paging::{decode_number_token, decode_token, encode_number_token, encode_token};
use super::schedule::Timetable;
use super::webhooks::{is_internal, ReceiverUrl};

proptest! {
    #[test]
    fn page_tokens_round_trip_and_are_kept_to_their_listing(
        kind in "[a-z_]{1,12}",
        other in "[a-z_]{1,12}",
        key in any::<String>(),
        number in any::<i64>(),
        junk in any::<String>(),
    ) {
        prop_assert_eq!(decode_token(&kind, &encode_token(&kind, &key)).unwrap(), key.clone());
        prop_assert_eq!(decode_number_token(&kind, &encode_number_token(&kind, number)).unwrap(), number);
        if other != kind {
            prop_assert!(decode_token(&other, &encode_token(&kind, &key)).is_err());
        }
        if let Err(error) = decode_token(&kind, &junk) {
            prop_assert!(error.to_string().contains("page_token"), "{}", error);
        }
    }

    #[test]
    fn cron_expressions_are_parsed_or_refused_by_name(
        cron in prop_oneof![
            // Well-formed: five fields, or six with seconds.
            (0u32..60, 0u32..24, 1u32..29, 1u32..13, 0u32..7, prop::option::of(0u32..60))
                .prop_map(|(m, h, d, mo, w, s)| match s {
                    Some(s) => format!("{s} {m} {h} {d} {mo} *"),
                    None => format!("{m} {h} * * {w}"),
                }),
            "([0-9*/,-]{1,6} ){4,6}[0-9*/,-]{1,6}",
            "(@daily|@hourly|@weekly|@monthly|@yearly|\\*/[0-9]{1,3} \\* \\* \\* \\*)",
            any::<String>(),
        ],
        zone in prop_oneof![
            prop::sample::select(vec!["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"])
                .prop_map(str::to_owned),
            any::<String>(),
        ],
        now in 0i64..4_102_444_800,
    ) {
        match Timetable::parse(&cron, &zone) {
            Ok(timetable) => {
                let now = Utc.timestamp_opt(now, 0).unwrap();
                let last = now - chrono::Duration::days(400);
                // A timetable that parsed answers every question about time.
                if let Some(next) = timetable.next(last, now) {
                    prop_assert!(next > last);
                }
                if let Some(due) = timetable.due(last, now) {
                    prop_assert!(due <= now && due > last);
                }
            }
            Err(error) => {
                let message = error.to_string();
                prop_assert!(message.contains("cron") || message.contains("time zone"), "{}", message);
            }
        }
    }

    #[test]
    fn webhook_urls_round_trip_or_say_why_not(
        text in prop_oneof![
            "(https?|ftp|file|javascript)://([a-z0-9.-]{0,20}|\\[[0-9a-f:]{2,20}\\]|user:pw@[a-z]{1,8})(:[0-9]{1,6})?(/[a-z0-9%./?#=&-]{0,30})?",
            any::<String>(),
        ],
    ) {
        match ReceiverUrl::parse(&text) {
            Ok(url) => {
                let again = ReceiverUrl::parse(url.as_str()).unwrap();
                prop_assert_eq!(again.as_str(), url.as_str());
                prop_assert!(url.as_str().starts_with("http://") || url.as_str().starts_with("https://"));
                prop_assert!(!url.host().is_empty());
            }
            Err(error) => prop_assert!(error.to_string().contains("webhook URL"), "{}", error),
        }
    }

    #[test]
    fn an_internal_address_is_refused_however_it_is_written(
        octets in any::<[u8; 4]>(),
        form in 0usize..4,
    ) {
        let v4 = Ipv4Addr::from(octets);
        let v6 = match form {
            0 => v4.to_ipv6_mapped(),
            1 => v4.to_ipv6_compatible(),
            2 => {
                let [a, b, c, d] = octets;
                Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]))
            }
            _ => {
                let [a, b, c, d] = octets;
                Ipv6Addr::new(0x2002, u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]), 0, 0, 0, 0, 1)
            }
        };
        // An IPv4 address inside an IPv6 one is as internal as itself (`::` and `::1`
        // are internal whatever they embed).
        if is_internal(IpAddr::V4(v4)) {
            prop_assert!(is_internal(IpAddr::V6(v6)), "{} inside {}", v4, v6);
        }
        let private = v4.is_private() || v4.is_loopback() || v4.is_link_local()
            || v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast() || v4.is_documentation();
        if private {
            prop_assert!(is_internal(IpAddr::V4(v4)), "{}", v4);
        }
    }
}
