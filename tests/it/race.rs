//! The local DynamoDB is as atomic as the real one: of many concurrent conditional puts on one new item, exactly
//! one passes. DynamoDB serializes writes to an item; plain `moto_server` checks a condition and applies the write in
//! two steps with no lock between them, so under load several puts can pass and the last one applied wins. Every
//! test of conditional writes under concurrency (two versions of a record in one batch, the replay storm) relies on
//! this, so it is checked here, against the launcher the tests, `make dev` and the e2e stack use
//! (`infra/local/moto_server.py`).
//!
//! Against plain moto it fails, which is its point:
//! `MOTO_SERVER=.tools/venv/bin/moto_server cargo test -p jwh-tests --test it race`.

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;

use crate::support;

const ROUNDS: usize = 30;
const WRITERS: usize = 24;

/// An item the size of a stored summary: moto's window between the check and the write grows with the item.
fn item(round: usize, writer: usize) -> std::collections::HashMap<String, AttributeValue> {
    let fields = (0..200)
        .map(|j| {
            let field = AttributeValue::M(
                [
                    ("n".to_owned(), AttributeValue::N(j.to_string())),
                    (
                        "s".to_owned(),
                        AttributeValue::L(vec![AttributeValue::S("x".into()); 5]),
                    ),
                ]
                .into(),
            );
            (format!("f{j}"), field)
        })
        .collect();
    [
        ("pk".to_owned(), AttributeValue::S(format!("RACE#{round}"))),
        ("sk".to_owned(), AttributeValue::S("item".into())),
        ("writer".to_owned(), AttributeValue::N(writer.to_string())),
        ("data".to_owned(), AttributeValue::M(fields)),
    ]
    .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_conditional_puts_on_one_new_item_exactly_one_passes() {
    let config = support::sdk_config().await;
    let table = support::create_table(&config).await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let mut rounds_with_several = Vec::new();
    for round in 0..ROUNDS {
        let puts = (0..WRITERS).map(|writer| {
            ddb.put_item()
                .table_name(&table)
                .set_item(Some(item(round, writer)))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", "pk")
                .send()
        });
        let results = join_all(puts).await;
        let mut passed = Vec::new();
        for (writer, result) in results.into_iter().enumerate() {
            match result {
                Ok(_) => passed.push(writer),
                Err(e) => assert!(
                    e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()),
                    "round {round}, writer {writer}: {e:?}"
                ),
            }
        }
        let stored = ddb
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(format!("RACE#{round}")))
            .key("sk", AttributeValue::S("item".into()))
            .send()
            .await
            .unwrap()
            .item
            .expect("the item");
        let writer: usize = stored["writer"].as_n().unwrap().parse().unwrap();
        if passed != vec![writer] {
            rounds_with_several.push((round, passed, writer));
        }
    }
    assert_eq!(
        rounds_with_several,
        vec![],
        "(round, puts that passed, writer of the stored item): several passed"
    );
}
