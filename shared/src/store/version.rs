//! Versions: which of two writes of one record is newer.
//!
//! Junction's rule is that the latest value received for a record replaces all earlier ones, and "latest" means
//! latest sent: a retry of an old message (a visibility timeout, Svix's 27 hours of retries, a DLQ redrive, a
//! re-send from the dashboard) must not overwrite what a newer message wrote. Every write therefore carries the
//! creation time of the message it came from: the KSUID in its Svix id (`msg_` and 27 base62 characters,
//! millisecond-accurate as Svix mints them), the same in every delivery attempt of the message.
//!
//! - An id that is not a KSUID (a hand-made test id, Svix's documentation example) falls back to the time the
//!   message was received, which is the time of that attempt.
//! - Data the fetcher reads from Junction's Data API is versioned by the time of the read: the API answers with
//!   Junction's state at that moment, which already includes everything a webhook created before the read
//!   carried, and nothing a webhook created after it carries. So a fetched record replaces webhooks sent before the
//!   fetch and yields to webhooks sent after it.
//!
//! Versions order by creation time, then by a two-digit hash of the message id, then by the id: one total order,
//! "creation order" throughout. Records compare a [`MessageVersion`] in its text form
//! (`{creation instant}#{hash}#{message id}`, ordered as strings like the versions they stand for). Timeseries
//! samples, stored by the thousand, keep a compact [`SampleVersion`] (the instant and the hash) per run of samples
//! instead ([`OwnerRuns`]); two messages of one millisecond with the same hash (1 in 1,296) are equal there, and the
//! later write wins between them.

use std::cmp::Ordering;

use super::time::canonical_from_millis;
use crate::envelope::{MessageMeta, message_created_ms};

/// The version of the message a write came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageVersion {
    /// When the message was created, Unix milliseconds.
    pub created_ms: i64,
    /// The Svix message id (or the fetcher's pseudo id): breaks ties between messages of one millisecond.
    pub id: String,
}

impl MessageVersion {
    /// The version of `meta`'s message: its KSUID's creation time, else its receive time.
    pub fn of(meta: &MessageMeta) -> MessageVersion {
        MessageVersion {
            created_ms: message_created_ms(&meta.svix_id).unwrap_or(meta.received_at_ms),
            id: meta.svix_id.clone(),
        }
    }

    /// `{creation instant, canonical}#{hash, two base-36 digits}#{id}`: ordered as strings like the versions they
    /// stand for.
    pub fn text(&self) -> String {
        let tie = tie_of(&self.id);
        let digits = [DIGITS[usize::from(tie / 36)], DIGITS[usize::from(tie % 36)]];
        format!(
            "{}#{}#{}",
            canonical_from_millis(self.created_ms),
            std::str::from_utf8(&digits).unwrap_or_default(),
            self.id
        )
    }

    /// The creation instant, canonical.
    pub fn created_at(&self) -> String {
        canonical_from_millis(self.created_ms)
    }

    /// The compact form kept per run of samples.
    pub fn sample(&self) -> SampleVersion {
        SampleVersion {
            created_ms: self.created_ms,
            tie: tie_of(&self.id),
        }
    }
}

impl Ord for MessageVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.created_ms, tie_of(&self.id), &self.id).cmp(&(
            other.created_ms,
            tie_of(&other.id),
            &other.id,
        ))
    }
}

impl PartialOrd for MessageVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A sample's version: the creation time of the message that wrote it, and two base-36 digits of a hash of the
/// message's id that order two messages of one millisecond (two messages of one millisecond with the same two
/// digits, 1 in 1,296, are equal: the later write wins between them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SampleVersion {
    /// Unix milliseconds.
    pub created_ms: i64,
    /// 0..1296.
    pub tie: u16,
}

fn tie_of(id: &str) -> u16 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    (hash % 1296) as u16
}

const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

fn base36(mut n: u64, out: &mut String) {
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = DIGITS[(n % 36) as usize];
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
}

fn from_base36(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 12 {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'z' => b - b'a' + 10,
            _ => return None,
        };
        Some(acc * 36 + u64::from(d))
    })
}

impl SampleVersion {
    /// `{ms in base 36}{tie, two base-36 digits}`: 10 characters until 2059.
    fn write(&self, out: &mut String) {
        base36(self.created_ms.max(0) as u64, out);
        out.push(DIGITS[(self.tie / 36) as usize] as char);
        out.push(DIGITS[(self.tie % 36) as usize] as char);
    }

    fn read(s: &str) -> Option<SampleVersion> {
        let (ms, tie) = s.split_at_checked(s.len().checked_sub(2)?)?;
        let tie = from_base36(tie)?;
        Some(SampleVersion {
            created_ms: i64::try_from(from_base36(ms)?).ok()?,
            tie: u16::try_from(tie).ok()?,
        })
    }

    /// The creation instant, canonical.
    pub fn created_at(&self) -> String {
        canonical_from_millis(self.created_ms)
    }
}

/// The versions of a bucket's samples, in the order of their instants, run-length encoded: `{count}:{version}`
/// runs joined by `,`. The samples of one message are usually adjacent in time, so a bucket filled by 26
/// webhooks keeps 26 runs of about 14 bytes, whatever the number of samples.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerRuns(pub Vec<(u32, SampleVersion)>);

impl OwnerRuns {
    /// Runs from the version of each sample, in order.
    pub fn from_versions(versions: impl IntoIterator<Item = SampleVersion>) -> OwnerRuns {
        let mut runs: Vec<(u32, SampleVersion)> = Vec::new();
        for v in versions {
            match runs.last_mut() {
                Some((count, last)) if *last == v => *count += 1,
                _ => runs.push((1, v)),
            }
        }
        OwnerRuns(runs)
    }

    /// The version of each sample, in order.
    pub fn versions(&self) -> impl Iterator<Item = SampleVersion> + '_ {
        self.0
            .iter()
            .flat_map(|(count, v)| std::iter::repeat_n(*v, *count as usize))
    }

    /// The encoded form.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.0.len() * 15);
        for (i, (count, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&count.to_string());
            out.push(':');
            v.write(&mut out);
        }
        out
    }

    /// Reads the encoded form; `None` if any run is malformed.
    pub fn decode(s: &str) -> Option<OwnerRuns> {
        if s.is_empty() {
            return Some(OwnerRuns::default());
        }
        s.split(',')
            .map(|run| {
                let (count, v) = run.split_once(':')?;
                Some((count.parse().ok()?, SampleVersion::read(v)?))
            })
            .collect::<Option<Vec<_>>>()
            .map(OwnerRuns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::Family;

    fn meta(id: &str, received_at_ms: i64) -> MessageMeta {
        MessageMeta {
            svix_id: id.into(),
            event_type: "daily.data.heartrate.created".into(),
            family: Family::Timeseries,
            svix_timestamp: received_at_ms / 1000,
            received_at_ms,
        }
    }

    pub(crate) fn ksuid_id(ms: i64, fill: u8) -> String {
        use svix_ksuid::KsuidLike;
        format!(
            "msg_{}",
            svix_ksuid::KsuidMs::from_millis(Some(ms), Some(&[fill; 15])).to_base62()
        )
    }

    #[test]
    fn a_message_is_versioned_by_its_creation_not_its_attempt() {
        let older = ksuid_id(1_732_000_000_000, 0xff);
        let newer = ksuid_id(1_732_000_000_250, 0);
        // A retry of the older message an hour later still sorts below the newer one, as text and as a sample.
        let retried = MessageVersion::of(&meta(&older, 1_732_003_600_000));
        let first = MessageVersion::of(&meta(&older, 1_732_000_000_000));
        let new = MessageVersion::of(&meta(&newer, 1_732_000_000_300));
        assert_eq!(retried, first);
        assert!(retried < new);
        assert!(retried.text() < new.text());
        assert!(retried.sample() < new.sample());
        assert_eq!(retried.created_at(), "2024-11-19T07:06:40.000000Z");
        // Not a KSUID: the receive time.
        let local = MessageVersion::of(&meta("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330_123));
        assert_eq!(local.created_ms, 1_614_265_330_123);
        assert!(
            local.text().starts_with("2021-02-25T15:02:10.123000Z#")
                && local.text().ends_with("#msg_p5jXN8AQM9LWM0D4loKWxJek"),
            "{}",
            local.text()
        );
    }

    #[test]
    fn sample_versions_order_like_message_versions_and_round_trip() {
        let mut ids: Vec<MessageVersion> = (0..200)
            .map(|i| MessageVersion {
                created_ms: 1_732_000_000_000 + (i % 7) * 3,
                id: format!("msg_{i}"),
            })
            .collect();
        ids.sort();
        for pair in ids.windows(2) {
            // One order: the text, the sample form and the version agree.
            assert!(pair[0].text() < pair[1].text());
            assert!(pair[0].sample() <= pair[1].sample());
        }
        let runs = OwnerRuns::from_versions(ids.iter().map(MessageVersion::sample));
        let text = runs.encode();
        assert_eq!(OwnerRuns::decode(&text), Some(runs.clone()));
        assert_eq!(
            runs.versions().collect::<Vec<_>>(),
            ids.iter().map(MessageVersion::sample).collect::<Vec<_>>()
        );
        for bad in ["x", "1:", ":abc", "1:a", "1:abc,2"] {
            assert_eq!(OwnerRuns::decode(bad), None, "{bad}");
        }
        assert_eq!(OwnerRuns::decode(""), Some(OwnerRuns::default()));
    }

    #[test]
    fn a_run_costs_about_fourteen_bytes() {
        let v = MessageVersion {
            created_ms: 1_732_000_000_000,
            id: "msg_x".into(),
        }
        .sample();
        let runs = OwnerRuns(vec![(7, v), (180, v)]);
        let text = runs.encode();
        assert!(text.len() <= 2 * 14, "{text}");
    }
}
