//! The event source mapping's stand-in: reads the tickets table's stream (DynamoDB Local's) and invokes the
//! function with batches, by the rules `template.yaml` declares: the same filter, batch size, retries from the
//! first failed record, bisection on error, a record age past which records go to the dead-letter file instead
//! (the sweep delivers their e-mails).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use serde_json::{Value, json};

use crate::driven;
use crate::driving::Function;
use crate::driving::stream::MappingRules;
use crate::ports::Ports;

/// Where a new poller starts reading: new records only, or all the stream still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Latest,
    TrimHorizon,
}

/// The event source mapping's stand-in for one stream.
pub struct StreamPoller {
    client: Client,
    stream_arn: String,
    rules: MappingRules,
    start: StartAt,
    /// Where records given up on are written (one JSON line per batch), as the dead-letter queue would hold them.
    dead_letters: Option<PathBuf>,
    idle: Duration,
}

impl StreamPoller {
    pub fn new(client: Client, stream_arn: String, rules: MappingRules, start: StartAt) -> Self {
        Self { client, stream_arn, rules, start, dead_letters: None, idle: Duration::from_millis(100) }
    }

    pub fn with_dead_letters(mut self, path: PathBuf) -> Self {
        self.dead_letters = Some(path);
        self
    }

    /// Reads the stream until the task is dropped, invoking `function` with every batch that passes the filter.
    pub async fn run<P: Ports>(self, function: Arc<Function<P>>) {
        let mut shards: HashMap<String, Shard> = HashMap::new();
        loop {
            if let Err(e) = self.open_shards(&mut shards).await {
                tracing::warn!(error = %e, "stream: could not describe the stream; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            let mut busy = false;
            for (id, shard) in shards.iter_mut() {
                let Some(current) = shard.iterator.clone() else { continue };
                let read = self.client.get_records().shard_iterator(&current).limit(self.rules.batch_size as i32);
                match read.send().await {
                    Ok(out) => {
                        shard.iterator = out.next_shard_iterator().map(str::to_owned);
                        if let Some(last) = out.records().last().and_then(|r| r.dynamodb()?.sequence_number()) {
                            shard.last = Some(last.to_owned());
                        }
                        let records: Vec<Value> = out
                            .records()
                            .iter()
                            .map(|r| self.event_record(r))
                            .filter(|r| self.rules.matches(r))
                            .collect();
                        busy |= !out.records().is_empty();
                        if !records.is_empty() {
                            self.deliver(&function, records).await;
                        }
                    }
                    // An iterator that expired, or that points before what the shard still holds (DynamoDB Local
                    // says so of a horizon taken while the shard was empty): taken again after the last record read.
                    Err(e)
                        if e.as_service_error().is_some_and(|e| {
                            e.is_expired_iterator_exception() || e.is_trimmed_data_access_exception()
                        }) =>
                    {
                        match self.iterator(id, shard.last.as_deref(), ShardIteratorType::TrimHorizon).await {
                            Ok(iterator) => shard.iterator = iterator,
                            Err(e) => tracing::warn!(error = %e, "stream: could not renew a shard iterator"),
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %driven::describe(&e), "stream: GetRecords failed; trying again")
                    }
                }
            }
            if !busy {
                tokio::time::sleep(self.idle).await;
            }
        }
    }

    /// An iterator of a shard: after `after` once a record was read there, else of `kind`.
    async fn iterator(
        &self,
        shard: &str,
        after: Option<&str>,
        kind: ShardIteratorType,
    ) -> anyhow::Result<Option<String>> {
        let request = self.client.get_shard_iterator().stream_arn(&self.stream_arn).shard_id(shard);
        let request = match after {
            Some(sequence) => {
                request.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).sequence_number(sequence)
            }
            None => request.shard_iterator_type(kind),
        };
        let out = request.send().await.map_err(|e| anyhow::anyhow!("{}", driven::describe(&e)))?;
        Ok(out.shard_iterator().map(str::to_owned))
    }

    /// Gives every shard not seen yet an iterator: at the start position for the shards open now, from their
    /// first record for shards that open later (the children of a closed one).
    async fn open_shards(&self, shards: &mut HashMap<String, Shard>) -> anyhow::Result<()> {
        let first_time = shards.is_empty();
        let described = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", driven::describe(&e)))?;
        for found in described.stream_description().map(|d| d.shards()).unwrap_or_default() {
            let Some(id) = found.shard_id() else { continue };
            if shards.contains_key(id) {
                continue;
            }
            let kind = match (first_time, self.start) {
                (true, StartAt::Latest) => ShardIteratorType::Latest,
                _ => ShardIteratorType::TrimHorizon,
            };
            let iterator = self.iterator(id, None, kind).await?;
            shards.insert(id.to_owned(), Shard { iterator, last: None });
        }
        Ok(())
    }

    /// One record as the Lambda event carries it.
    fn event_record(&self, record: &Record) -> Value {
        let item = |image: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>| {
            image.map(|m| serde_json::to_value(serde_dynamo::Item::from(m.clone())).expect("items are JSON"))
        };
        let change = record.dynamodb();
        json!({
            "eventID": record.event_id(),
            "eventName": record.event_name().map(|n| n.as_str()),
            "eventVersion": record.event_version(),
            "eventSource": "aws:dynamodb",
            "awsRegion": record.aws_region(),
            "eventSourceARN": self.stream_arn,
            "dynamodb": {
                "ApproximateCreationDateTime": change.and_then(|c| c.approximate_creation_date_time()).map(|t| t.as_secs_f64()),
                "Keys": item(change.and_then(|c| c.keys.as_ref())),
                "NewImage": item(change.and_then(|c| c.new_image.as_ref())),
                "SequenceNumber": change.and_then(|c| c.sequence_number()),
                "SizeBytes": change.and_then(|c| c.size_bytes()),
                "StreamViewType": change.and_then(|c| c.stream_view_type()).map(|v| v.as_str()),
            },
        })
    }

    /// Invokes the function with a batch and follows the mapping's rules until every record is done with,
    /// or given up on.
    async fn deliver<P: Ports>(&self, function: &Function<P>, records: Vec<Value>) {
        let mut batches = VecDeque::from([(records, 0u32)]);
        while let Some((mut batch, mut retries)) = batches.pop_front() {
            loop {
                let (fresh, old): (Vec<Value>, Vec<Value>) = batch.into_iter().partition(|r| self.young_enough(r));
                self.dead_letter(old, "the record is older than the maximum record age");
                batch = fresh;
                if batch.is_empty() {
                    break;
                }
                let event = json!({ "Records": batch });
                match function.invoke(&event, super::context()).await {
                    Ok(answer) => {
                        let failed: Vec<&str> = answer["batchItemFailures"]
                            .as_array()
                            .map(|f| f.iter().filter_map(|i| i["itemIdentifier"].as_str()).collect())
                            .unwrap_or_default();
                        let Some(first) = batch.iter().position(|r| failed.contains(&sequence(r))) else { break };
                        // As Lambda does: checkpoint before the first failed record, retry from it on.
                        batch = batch.split_off(first);
                    }
                    Err(e) if self.rules.bisect_on_error && batch.len() > 1 => {
                        tracing::warn!(error = %e, "stream: the function failed; the batch is split in two");
                        let second = batch.split_off(batch.len() / 2);
                        batches.push_front((second, retries + 1));
                        batches.push_front((batch, retries + 1));
                        break;
                    }
                    Err(e) => tracing::warn!(error = %e, "stream: the function failed on the batch"),
                }
                retries += 1;
                if retries > self.rules.max_retries {
                    self.dead_letter(batch, "the retries are used up");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100u64 << retries.min(5))).await;
            }
        }
    }

    fn young_enough(&self, record: &Value) -> bool {
        let created = record["dynamodb"]["ApproximateCreationDateTime"].as_f64().unwrap_or(f64::MAX);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        now - created <= self.rules.max_record_age.as_secs_f64()
    }

    /// What the on-failure destination gets: which records were given up on, and why (not their images).
    fn dead_letter(&self, records: Vec<Value>, why: &str) {
        if records.is_empty() {
            return;
        }
        let sequences: Vec<&str> = records.iter().map(sequence).collect();
        tracing::error!(records = records.len(), why, "stream: records given up on (the sweep delivers their e-mails)");
        let line = json!({"condition": why, "streamArn": self.stream_arn, "sequenceNumbers": sequences});
        super::append_line(self.dead_letters.as_deref(), &line);
    }
}

/// Where the poller stands in one shard: its next iterator (none once the shard is closed and read), and the
/// last record it read.
struct Shard {
    iterator: Option<String>,
    last: Option<String>,
}

fn sequence(record: &Value) -> &str {
    record["dynamodb"]["SequenceNumber"].as_str().unwrap_or_default()
}
