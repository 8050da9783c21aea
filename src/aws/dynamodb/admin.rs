//! The operator's side of the tables (`ticketctl`): creating them on local endpoints (SAM creates them on AWS,
//! from the same shapes as `template.yaml`), and the scans of the small tables.

use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification, TimeToLiveStatus,
};
use serde::de::DeserializeOwned;

use super::{BY_STATUS_INDEX, DynamoStore, Item, OUTBOX_INDEX, failed, from_item};

const SCAN: &str = "DynamoDB Scan";

/// An attribute of a key: its name and type.
type KeyAttribute<'a> = (&'a str, ScalarAttributeType);

/// One table's shape: key attributes (hash, then range), indexes (name, hash, range), stream, TTL attribute.
struct Shape<'a> {
    table: &'a str,
    keys: &'a [KeyAttribute<'a>],
    indexes: &'a [(&'a str, KeyAttribute<'a>, KeyAttribute<'a>)],
    stream: bool,
    ttl: Option<&'a str>,
}

fn key(name: &str, key_type: KeyType) -> anyhow::Result<KeySchemaElement> {
    Ok(KeySchemaElement::builder().attribute_name(name).key_type(key_type).build()?)
}

fn attribute(name: &str, kind: &ScalarAttributeType) -> anyhow::Result<AttributeDefinition> {
    Ok(AttributeDefinition::builder().attribute_name(name).attribute_type(kind.clone()).build()?)
}

impl DynamoStore {
    /// Creates the tables (on-demand) where they do not exist yet, and waits until they are active. A table that
    /// exists with another key (an older version's) is reported, not changed.
    pub async fn create_tables(&self) -> anyhow::Result<Vec<String>> {
        use ScalarAttributeType::{N, S};
        let t = &self.tables;
        let shapes = [
            Shape { table: &t.collections, keys: &[("collectionId", S)], indexes: &[], stream: false, ttl: None },
            Shape { table: &t.api_keys, keys: &[("keyHash", S)], indexes: &[], stream: false, ttl: None },
            Shape {
                table: &t.tickets,
                keys: &[("pk", S), ("sk", S)],
                indexes: &[
                    (BY_STATUS_INDEX, ("listKey", S), ("activityKey", S)),
                    (OUTBOX_INDEX, ("outbox", S), ("outboxAt", N)),
                ],
                stream: true,
                ttl: None,
            },
            Shape { table: &t.limits, keys: &[("countId", S)], indexes: &[], stream: false, ttl: Some("expiresAt") },
            Shape { table: &t.idempotency, keys: &[("scope", S)], indexes: &[], stream: false, ttl: Some("expiresAt") },
            Shape { table: &t.suppressions, keys: &[("address", S)], indexes: &[], stream: false, ttl: None },
        ];
        let mut created = Vec::new();
        for shape in shapes {
            if self.create_table(&shape).await? {
                created.push(shape.table.to_owned());
            }
            self.client
                .wait_until_table_exists()
                .table_name(shape.table)
                .wait(Duration::from_secs(60))
                .await
                .with_context(|| format!("waiting for table {}", shape.table))?;
            if let Some(attribute) = shape.ttl {
                self.enable_ttl(shape.table, attribute).await?;
            }
        }
        Ok(created)
    }

    /// Creates one table; false when it already exists with the same key.
    async fn create_table(&self, shape: &Shape<'_>) -> anyhow::Result<bool> {
        if let Ok(existing) = self.client.describe_table().table_name(shape.table).send().await {
            let keys: Vec<&str> = existing
                .table()
                .map(|t| t.key_schema().iter().map(|k| k.attribute_name()).collect())
                .unwrap_or_default();
            let wanted: Vec<&str> = shape.keys.iter().map(|(name, _)| *name).collect();
            anyhow::ensure!(
                keys == wanted,
                "table {} exists with the key {keys:?}, not {wanted:?}: it is an older version's; delete it (locally: \
                 make clean-local) and run init again",
                shape.table
            );
            return Ok(false);
        }
        let mut request = self.client.create_table().table_name(shape.table).billing_mode(BillingMode::PayPerRequest);
        let mut defined = Vec::new();
        for (i, (name, kind)) in shape.keys.iter().enumerate() {
            request = request.key_schema(key(name, if i == 0 { KeyType::Hash } else { KeyType::Range })?);
            defined.push((*name, kind.clone()));
        }
        for (index, (hash, hash_kind), (range, range_kind)) in shape.indexes {
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(*index)
                    .key_schema(key(hash, KeyType::Hash)?)
                    .key_schema(key(range, KeyType::Range)?)
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()?,
            );
            defined.push((*hash, hash_kind.clone()));
            defined.push((*range, range_kind.clone()));
        }
        for (name, kind) in &defined {
            request = request.attribute_definitions(attribute(name, kind)?);
        }
        if shape.stream {
            request = request.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewImage)
                    .build()?,
            );
        }
        request.send().await.map_err(failed(format!("creating table {}", shape.table)))?;
        Ok(true)
    }

    /// Turns on TTL by `attribute`, unless it is on already (asking twice is refused by DynamoDB).
    async fn enable_ttl(&self, table: &str, attribute: &str) -> anyhow::Result<()> {
        let described = self
            .client
            .describe_time_to_live()
            .table_name(table)
            .send()
            .await
            .map_err(failed(format!("reading the TTL of {table}")))?;
        let status = described.time_to_live_description().and_then(|d| d.time_to_live_status().cloned());
        if matches!(status, Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)) {
            return Ok(());
        }
        self.client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().attribute_name(attribute).enabled(true).build()?,
            )
            .send()
            .await
            .map_err(failed(format!("enabling TTL on {table}")))?;
        Ok(())
    }

    /// The stream of the tickets table, which the local stand-in for the event source mapping reads.
    pub async fn tickets_stream_arn(&self) -> anyhow::Result<String> {
        let described = self
            .client
            .describe_table()
            .table_name(&self.tables.tickets)
            .send()
            .await
            .map_err(failed(format!("describing {}", self.tables.tickets)))?;
        described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("table {} has no stream", self.tables.tickets))
    }

    pub(super) async fn scan_items(&self, table: &str) -> anyhow::Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(failed(format!("scanning {table}")))?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    pub(super) async fn scan_all<T: DeserializeOwned>(&self, table: &str) -> anyhow::Result<Vec<T>> {
        let items = self.scan_items(table).await?;
        Ok(items.into_iter().map(|item| from_item(SCAN, item)).collect::<Result<_, _>>()?)
    }
}
