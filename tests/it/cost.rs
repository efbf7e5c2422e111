//! What one event costs in DynamoDB, measured from the calls the processors really make: an SDK interceptor
//! sees every request and response and sizes the items by DynamoDB's rules, so the figures follow the code.
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>
//!
//! Run `cargo test -p jwh-tests --test it cost -- --nocapture` to see the table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use jwh_shared::family::Family;
use jwh_shared::processor::Processor;
use jwh_shared::store::Store;

use crate::support::{self, fixture, meta_for, sqs_event, sqs_record};

/// DynamoDB's size of an attribute value.
fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        // Numbers: about one byte per two significant digits, plus one.
        AttributeValue::N(n) => n.trim_start_matches('-').replace('.', "").len().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        AttributeValue::Ss(l) => l.iter().map(String::len).sum(),
        _ => 0,
    }
}

fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    requests: u32,
    writes: u32,
    gets: u32,
    write_units: u32,
    read_units: f64,
}

#[derive(Debug, Default, Clone)]
struct Meter(Arc<Mutex<Tally>>);

impl Meter {
    fn take(&self) -> Tally {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "DynamoDbMeter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let mut t = self.0.lock().unwrap();
        t.requests += 1;
        if let Some(put) = input.downcast_ref::<PutItemInput>() {
            t.writes += 1;
            t.write_units += item_size(put.item().unwrap()).div_ceil(1024) as u32;
        } else if let Some(update) = input.downcast_ref::<UpdateItemInput>() {
            t.writes += 1;
            // An update is charged the item's size after it; its values are a lower bound for a new item.
            let size: usize = update
                .expression_attribute_values()
                .map(item_size)
                .unwrap_or(0)
                + update.key().map(item_size).unwrap_or(0);
            t.write_units += size.div_ceil(1024).max(1) as u32;
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Ok(output)) = context.output_or_error()
            && let Some(get) = output.downcast_ref::<GetItemOutput>()
        {
            let mut t = self.0.lock().unwrap();
            t.gets += 1;
            // Strongly consistent reads: one unit per 4 KB, at least one.
            t.read_units += get.item().map(item_size).unwrap_or(0).div_ceil(4096).max(1) as f64;
        }
        Ok(())
    }
}

async fn metered_processor(family: Family, meter: &Meter) -> Processor {
    let config = support::sdk_config().await;
    let table = support::create_table(&config).await;
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(meter.clone())
            .build(),
    );
    Processor {
        family,
        store: Store::new(ddb, table, 7),
        s3: support::s3(&config),
        concurrency: 1,
    }
}

fn heartrate(n: i64, seconds_apart: i64) -> Vec<u8> {
    let start = chrono::DateTime::parse_from_rfc3339("2024-11-24T00:00:00+00:00").unwrap();
    let data: Vec<_> = (0..n)
        .map(|i| {
            serde_json::json!({"id": null, "timezone_offset": 3600, "type": null, "unit": "bpm",
                "timestamp": (start + chrono::Duration::seconds(i * seconds_apart)).to_rfc3339(), "value": 60 + i % 50})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "event_type": "daily.data.heartrate.created",
        "data": {"source": {"provider": "apple_health_kit", "type": "watch"}, "data": data, "user_id": "u"},
        "user_id": "u", "client_user_id": "c", "team_id": "t"
    }))
    .unwrap()
}

#[tokio::test]
async fn write_units_per_event_and_per_sample() {
    let cases: Vec<(&str, Vec<u8>, u32)> = vec![
        (
            "provider.connection.created",
            fixture("provider.connection.created"),
            0,
        ),
        (
            "provider.device.created",
            fixture("provider.device.created"),
            0,
        ),
        (
            "historical.data.sleep.created",
            fixture("historical.data.sleep.created"),
            0,
        ),
        (
            "daily.data.sleep.created",
            fixture("daily.data.sleep.created"),
            0,
        ),
        (
            "daily.data.activity.created",
            fixture("daily.data.activity.created"),
            0,
        ),
        (
            "daily.data.heartrate.created (fixture)",
            fixture("daily.data.heartrate.created"),
            2,
        ),
        ("heartrate, 1000 samples at 5 s", heartrate(1000, 5), 1000),
        ("heartrate, 1000 samples at 60 s", heartrate(1000, 60), 1000),
        ("labtest.order.updated", fixture("labtest.order.updated"), 0),
        (
            "continuous_query.result_table.changed",
            fixture("continuous_query.result_table.changed"),
            0,
        ),
    ];
    println!(
        "\n{:<42} {:>8} {:>6} {:>5} {:>6} {:>6} {:>11}",
        "event", "requests", "writes", "gets", "WCU", "RCU", "WCU/sample"
    );
    for (name, body, samples) in cases {
        let meter = Meter::default();
        let meta = meta_for("msg_cost", &body);
        let processor = metered_processor(meta.family, &meter).await;
        let record = sqs_record("m", &meta, std::str::from_utf8(&body).unwrap(), None);
        let response = processor
            .handle_batch(sqs_event(vec![record.clone()]))
            .await;
        assert!(response.batch_item_failures.is_empty(), "{name}");
        let t = meter.take();
        let per_sample = if samples > 0 {
            format!("{:.3}", f64::from(t.write_units) / f64::from(samples))
        } else {
            "-".into()
        };
        println!(
            "{name:<42} {:>8} {:>6} {:>5} {:>6} {:>6.1} {:>11}",
            t.requests, t.writes, t.gets, t.write_units, t.read_units, per_sample
        );
        // Every event costs its marker write plus its records; a redelivery costs one read and nothing else.
        assert!(t.writes >= 2, "{name}: record(s) and marker");
        processor.handle_batch(sqs_event(vec![record])).await;
        let again = meter.take();
        assert_eq!(
            (again.requests, again.write_units),
            (1, 0),
            "{name}: a duplicate is one read"
        );
        if samples == 1000 {
            let per = f64::from(t.write_units) / 1000.0;
            assert!(per <= 0.1, "{name}: {per} write units per sample");
        }
    }
}
