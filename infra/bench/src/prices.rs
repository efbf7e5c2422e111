//! Public AWS list prices, us-east-1, in one place: the cost model reads nothing else.
//!
//! Checked 2026-11-30 against stored copies of the public pricing pages and guides (no free tier, no savings plans,
//! first volume tier):
//! - Lambda: <https://aws.amazon.com/lambda/pricing/> (arm64 duration and requests)
//! - API Gateway HTTP API: <https://aws.amazon.com/api-gateway/pricing/>, metered in 512 KB increments
//! - SQS standard: <https://aws.amazon.com/sqs/pricing/>, every 64 KB chunk of a payload is one request
//! - DynamoDB on-demand (after the November 2024 price cut): <https://aws.amazon.com/dynamodb/pricing/on-demand/>
//! - S3 Standard requests: <https://aws.amazon.com/s3/pricing/>
//! - CloudWatch Logs standard ingestion, first tier: <https://aws.amazon.com/cloudwatch/pricing/>
//! - X-Ray traces recorded: <https://aws.amazon.com/xray/pricing/>
//! - Secrets Manager: <https://aws.amazon.com/secrets-manager/pricing/>
//! - Amazon Data Firehose, Direct PUT: <https://aws.amazon.com/firehose/pricing/> (each record rounded up to 5 KB)
//! - S3 Standard storage: <https://aws.amazon.com/s3/pricing/>, first 50 TB
//!
//! Change a price here and `jwh-bench cost` reprices every figure.

/// Lambda (arm64) duration, dollars per GB-second.
pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
/// Lambda requests, dollars per request ($0.20 per million).
pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
/// API Gateway HTTP API, dollars per request of up to 512 KB ($1.00 per million, first 300 million a month).
pub const HTTP_API_REQUEST: f64 = 1.00 / 1e6;
/// HTTP API metering increment, bytes.
pub const HTTP_API_INCREMENT: f64 = 512.0 * 1024.0;
/// SQS standard queue, dollars per request (per 64 KB chunk of payload): $0.40 per million.
pub const SQS_REQUEST: f64 = 0.40 / 1e6;
/// DynamoDB on-demand, dollars per write request unit ($0.625 per million).
pub const DYNAMODB_WRU: f64 = 0.625 / 1e6;
/// DynamoDB on-demand, dollars per read request unit ($0.125 per million).
pub const DYNAMODB_RRU: f64 = 0.125 / 1e6;
/// S3 Standard PUT, dollars per request ($0.005 per 1,000).
pub const S3_PUT: f64 = 0.005 / 1e3;
/// S3 Standard GET, dollars per request ($0.0004 per 1,000).
pub const S3_GET: f64 = 0.0004 / 1e3;
/// Amazon Data Firehose, Direct PUT ingestion, dollars per GB ($0.029, first 500 TB a month).
pub const FIREHOSE_GB: f64 = 0.029;
/// Firehose bills each record rounded up to 5 KB (taken as KiB, with GB as GiB).
pub const FIREHOSE_INCREMENT: f64 = 5.0 * 1024.0;
/// S3 Standard storage, dollars per GB-month ($0.023).
pub const S3_STORAGE_GB_MONTH: f64 = 0.023;
/// CloudWatch Logs standard ingestion, dollars per GB ($0.50).
pub const LOGS_INGESTED_GB: f64 = 0.50;
/// X-Ray, dollars per trace recorded ($5.00 per million).
pub const XRAY_TRACE: f64 = 5.00 / 1e6;
/// Secrets Manager, dollars per API call ($0.05 per 10,000).
pub const SECRETS_MANAGER_CALL: f64 = 0.05 / 1e4;

/// Fixed monthly charges of one deployed stack, dollars per month, whatever the traffic.
pub const FIXED_MONTHLY: &[(&str, f64)] = &[
    (
        "20 CloudWatch alarms at $0.10 (19 without the archive)",
        2.00,
    ),
    (
        "1 CloudWatch dashboard (free within an account's first 3)",
        3.00,
    ),
    ("1 Secrets Manager secret", 0.40),
];
