//! Erasure against moto: two users with every fixture's records, catch-all bodies (one over the inline limit, in
//! parts), match reviews and claim-check objects; erasing one leaves nothing that names them and every item of the
//! other as it was.

use std::collections::BTreeMap;

use jwh_shared::envelope::{CLAIM_CHECK_PREFIX, MessageMeta};
use jwh_shared::events::parse_event;
use jwh_shared::store::Store;

use crate::support::{self, all_fixtures, meta_for};

const FIXTURE_USER: &str = "4a29dbc7-6db3-4c83-bfac-70a20a4be1b2";
const FIXTURE_TEAM: &str = "6b74423d-0504-4470-9afb-477252ccf67a";

/// Every item of the table, as text, by key.
async fn scan(store: &Store) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    let mut start = None;
    loop {
        let page = store
            .client()
            .scan()
            .table_name(store.table())
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in page.items() {
            let key = |k: &str| item[k].as_s().unwrap().clone();
            // Attributes in name order, so that one item reads the same in every scan.
            let sorted: BTreeMap<&String, String> =
                item.iter().map(|(k, v)| (k, format!("{v:?}"))).collect();
            out.insert((key("pk"), key("sk")), format!("{sorted:?}"));
        }
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return out,
        }
    }
}

async fn objects(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    s3.list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

/// Stores every fixture for `user`, a catch-all body naming them (inline, and one large enough for parts), and a
/// claim-check object of theirs.
pub(crate) async fn populate(store: &Store, s3: &aws_sdk_s3::Client, bucket: &str, user: &str) {
    for (i, (event_type, body)) in all_fixtures().into_iter().enumerate() {
        let mut text = String::from_utf8(body).unwrap().replace(FIXTURE_USER, user);
        if event_type.starts_with("labtest.match_review") {
            // A review of each user's own, resolved to them (the fixtures share one id, resolved to someone else).
            let mut review: serde_json::Value = serde_json::from_str(&text).unwrap();
            let id = review["data"]["id"].as_str().unwrap().to_owned();
            review["data"]["id"] = format!("{user}-{id}").into();
            review["data"]["resolved_user_id"] = user.into();
            text = review.to_string();
        }
        let meta = meta_for(&format!("msg_{user}_{i}"), text.as_bytes());
        match parse_event(text.as_bytes()) {
            Ok(event) => {
                store.write_event(&event, &meta).await.unwrap();
            }
            Err(_) => {
                store
                    .put_catch_all(text.as_bytes(), &meta, "unparseable")
                    .await
                    .unwrap();
            }
        }
    }
    let big = format!(
        r#"{{"event_type":"daily.data.new_thing.created","padding":"{}","user_id":"{user}"}}"#,
        "x".repeat(400 * 1024)
    );
    let meta: MessageMeta = meta_for(&format!("msg_{user}_big"), big.as_bytes());
    store
        .put_catch_all(big.as_bytes(), &meta, "unknown_event_type")
        .await
        .unwrap();
    s3.put_object()
        .bucket(bucket)
        .key(format!("{CLAIM_CHECK_PREFIX}timeseries/msg_{user}_claim"))
        .body(
            format!(r#"{{"user_id":"{user}","data":{{}}}}"#)
                .into_bytes()
                .into(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn erasing_a_user_leaves_nothing_of_them_and_touches_no_one_else() {
    let config = support::sdk_config().await;
    let table = support::create_table(&config).await;
    let bucket = support::create_bucket(&config).await;
    let s3 = support::s3(&config);
    let store = Store::new(aws_sdk_dynamodb::Client::new(&config), table, 7);
    let (gone, kept) = (support::unique("erase-me"), support::unique("keep-me"));
    populate(&store, &s3, &bucket, &gone).await;
    populate(&store, &s3, &bucket, &kept).await;
    let before = scan(&store).await;
    assert!(before.values().any(|item| item.contains(&gone)));
    let others_before: BTreeMap<_, _> = before
        .iter()
        .filter(|(_, item)| !item.contains(&gone))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    let teams = vec![FIXTURE_TEAM.to_owned()];
    let erased = store
        .erase_user(&gone, &teams, Some((&s3, &bucket)), None)
        .await
        .unwrap();

    let after = scan(&store).await;
    let left: Vec<_> = after
        .iter()
        .filter(|(_, item)| item.contains(&gone))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(after.keys().all(|(pk, _)| !pk.contains(&gone)));
    // Everyone else's items, byte for byte (the processed markers among them: they name no user).
    let others_after: BTreeMap<_, _> = after
        .iter()
        .filter(|(k, _)| others_before.contains_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let changed: Vec<_> = others_before
        .keys()
        .filter(|k| others_after.get(*k) != others_before.get(*k))
        .collect();
    assert!(
        changed.is_empty(),
        "another user's items changed or went: {changed:?}"
    );
    assert_eq!(after.len(), others_before.len());
    let objects_left = objects(&s3, &bucket).await;
    assert_eq!(
        objects_left,
        [format!("{CLAIM_CHECK_PREFIX}timeseries/msg_{kept}_claim")]
    );

    // The report counts what went: the user's partition by kind, their catch-all messages (the unparseable
    // fixtures, the continuous query and the large body: one each, parts included), the match review resolved to
    // them (its record and history), the claim-check object.
    let theirs = |pk: &str| {
        before
            .iter()
            .filter(|((p, _), item)| p.starts_with(pk) && item.contains(&gone))
            .map(|((_, sk), _)| sk.clone())
            .collect::<Vec<_>>()
    };
    let user_items = theirs(&format!("USER#{gone}")).len() as u64;
    assert_eq!(erased.records.values().sum::<u64>(), user_items);
    assert!(erased.records["summary"] > 0 && erased.records["timeseries"] > 0);
    let messages = theirs("CATCHALL")
        .iter()
        .filter(|sk| !sk.contains("#PART#"))
        .count() as u64;
    assert!(messages >= 2, "{messages}");
    assert_eq!(erased.catch_all, messages);
    let reviews: std::collections::BTreeSet<String> = theirs("TEAM#")
        .iter()
        .map(|sk| sk.split('#').take(3).collect::<Vec<_>>().join("#"))
        .collect();
    assert_eq!(erased.match_reviews, reviews.len() as u64);
    assert!(erased.match_reviews >= 1);
    assert_eq!(erased.payloads, 1);

    // Again: nothing left to remove.
    let again = store
        .erase_user(&gone, &teams, Some((&s3, &bucket)), None)
        .await
        .unwrap();
    assert_eq!(again.total(), 0);
}

/// The archive holds many users' deliveries per object: erasure rewrites each object naming the user without
/// their deliveries (deletes it when nothing else is left) and leaves every other object byte for byte.
#[tokio::test]
async fn erasing_a_user_rewrites_the_archive_objects_that_name_them() {
    use jwh_shared::archive::{self, ArchivedDelivery};

    let config = support::sdk_config().await;
    let table = support::create_table(&config).await;
    let bucket = support::create_bucket(&config).await;
    let s3 = support::s3(&config);
    let store = Store::new(aws_sdk_dynamodb::Client::new(&config), table, 7);
    let (gone, kept) = (support::unique("erase-me"), support::unique("keep-me"));
    let delivery = |user: &str, i: usize| {
        let body = if i.is_multiple_of(2) {
            format!(
                r#"{{"event_type":"daily.data.sleep.created","user_id":"{user}","data":{{"id":"s{i}"}}}}"#
            )
        } else {
            // Named only inside the body, as a match review names the user it resolved to.
            format!(
                r#"{{"event_type":"labtest.match_review.updated","data":{{"resolved_user_id":"{user}"}}}}"#
            )
        };
        ArchivedDelivery::new(
            &meta_for(&format!("msg_{user}_{i}"), body.as_bytes()),
            body.as_bytes(),
        )
    };
    let member = |ds: Vec<ArchivedDelivery>| archive::encode(&ds).records.remove(0);
    let mixed = [
        member(vec![delivery(&gone, 0), delivery(&kept, 0)]),
        member(vec![delivery(&kept, 1), delivery(&gone, 1)]),
    ]
    .concat();
    let only_gone = member(vec![delivery(&gone, 2)]);
    let only_kept = member(vec![delivery(&kept, 2), delivery(&kept, 3)]);
    let keys = [
        "summaries/2026/12/02/10/mixed.jsonl.gz",
        "lab/2026/12/02/10/gone.jsonl.gz",
        "summaries/2026/12/02/11/kept.jsonl.gz",
    ];
    for (key, bytes) in keys.iter().zip([&mixed, &only_gone, &only_kept]) {
        s3.put_object()
            .bucket(&bucket)
            .key(*key)
            .body(bytes.clone().into())
            .send()
            .await
            .unwrap();
    }

    let erased = store
        .erase_user(&gone, &[], None, Some((&s3, &bucket)))
        .await
        .unwrap();
    assert_eq!((erased.archived, erased.archive_objects), (3, 2));
    assert_eq!(erased.total(), 3);

    let left = objects(&s3, &bucket).await;
    assert_eq!(left, [keys[0], keys[2]]);
    let read = |key: &'static str| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        async move { archive::read_object(&s3, &bucket, key).await.unwrap() }
    };
    let rewritten = archive::decode_object(&read(keys[0]).await).unwrap();
    let ids: Vec<&str> = rewritten
        .deliveries
        .iter()
        .map(|d| d.svix_id.as_str())
        .collect();
    assert_eq!(ids, [format!("msg_{kept}_0"), format!("msg_{kept}_1")]);
    assert_eq!(rewritten.deliveries[1].body, delivery(&kept, 1).body);
    assert_eq!(
        read(keys[2]).await,
        only_kept,
        "an object not naming the user is not touched"
    );

    let again = store
        .erase_user(&gone, &[], None, Some((&s3, &bucket)))
        .await
        .unwrap();
    assert_eq!(again.total(), 0);
}
