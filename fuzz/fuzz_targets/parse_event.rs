//! The event parser on arbitrary bytes: `peek_event_type` (the ingest path's router) and `parse_event` (the
//! processors') never panic, and agree: whenever the full parse succeeds, the peek names the same event type.
//! A parsed event's routing (family, resource) is derived too, so it cannot panic either.
#![no_main]

use jwh_shared::events::{ParseError, parse_event, peek_event_type};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let peeked = peek_event_type(body);
    match parse_event(body) {
        Ok(event) => {
            assert_eq!(peeked.as_ref(), Ok(&event.event_type));
            // Routing is total: every event type has a family.
            let _ = event.event_type.family();
            let _ = event.event_type.resource();
        }
        Err(ParseError::MissingField { .. } | ParseError::WrongType { .. }) => {
            // A known event without what identifies its records: the envelope itself was readable.
            assert!(peeked.is_ok_and(|t| t.is_known()));
        }
        // Both refuse it: the ingest path routes it to catch-all, where the processor keeps it whole. On a body that
        // is JSON they refuse it for the same reason; on malformed JSON the reasons may differ (`0\x0e` is "not an
        // object" to the router, which stops reading at the first value, and "not JSON" to the parser).
        Err(error) => {
            assert!(
                peeked.is_err(),
                "the router read {peeked:?}, the parser refused: {error}"
            );
            if serde_json::from_slice::<serde_json::Value>(body).is_ok() {
                assert_eq!(peeked, Err(error));
            }
        }
    }
});
