//! The operator's side of the tables (`ticketctl`): creating them on local endpoints from `schema`'s layouts
//! (SAM creates them on AWS from `template.yaml`, which a test holds to the same layouts), and `AdminStore`:
//! collections and keys created, changed, listed (scans of the small tables) and revoked, a ticket's e-mails.

use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification, TimeToLiveStatus,
};
use serde::de::DeserializeOwned;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;

use super::collections::limits_value;
use super::{DynamoStore, Item, failed, from_item, s, to_item, unavailable};
use crate::domain::{ApiKeyHash, ApiKeyRecord, Collection, CollectionId, Mail};
use crate::ports::{AdminStore, Unavailable};
use crate::schema::{self, Layout, Table, collections, keys, tickets};

const SCAN: &str = "DynamoDB Scan";
const INSERT_COLLECTION: &str = "DynamoDB PutItem (new collection)";
const UPDATE_COLLECTION: &str = "DynamoDB UpdateItem (collection settings)";
const INSERT_KEY: &str = "DynamoDB PutItem (new API key)";
const REVOKE_KEY: &str = "DynamoDB UpdateItem (API key revoked)";
const TICKET_MAIL: &str = "DynamoDB Query (a ticket's e-mails)";

fn key(name: &str, key_type: KeyType) -> anyhow::Result<KeySchemaElement> {
    Ok(KeySchemaElement::builder().attribute_name(name).key_type(key_type).build()?)
}

fn attribute(attribute: &schema::KeyAttribute) -> anyhow::Result<AttributeDefinition> {
    let kind = match attribute.kind {
        schema::KeyType::S => ScalarAttributeType::S,
        schema::KeyType::N => ScalarAttributeType::N,
    };
    Ok(AttributeDefinition::builder().attribute_name(attribute.name).attribute_type(kind).build()?)
}

impl DynamoStore {
    /// Creates the tables (on-demand) where they do not exist yet, and waits until they are active. A table that
    /// exists with another key (an older version's) is reported, not changed.
    pub async fn create_tables(&self) -> anyhow::Result<Vec<String>> {
        let mut created = Vec::new();
        for table in Table::ALL {
            let name = self.tables.name(table);
            let layout = table.layout();
            if self.create_table(name, table, &layout).await? {
                created.push(name.to_owned());
            }
            self.client
                .wait_until_table_exists()
                .table_name(name)
                .wait(Duration::from_secs(60))
                .await
                .with_context(|| format!("waiting for table {name}"))?;
            if let Some(attribute) = layout.ttl {
                self.enable_ttl(name, attribute).await?;
            }
        }
        Ok(created)
    }

    /// Creates one table; false when it already exists with the same key.
    async fn create_table(&self, name: &str, table: Table, layout: &Layout) -> anyhow::Result<bool> {
        let wanted: Vec<&str> = [Some(layout.hash), layout.range].into_iter().flatten().map(|a| a.name).collect();
        if let Ok(existing) = self.client.describe_table().table_name(name).send().await {
            let keys: Vec<&str> = existing
                .table()
                .map(|t| t.key_schema().iter().map(|k| k.attribute_name()).collect())
                .unwrap_or_default();
            anyhow::ensure!(
                keys == wanted,
                "table {name} exists with the key {keys:?}, not {wanted:?}: it is an older version's; delete it \
                 (locally: make clean-local) and run init again",
            );
            return Ok(false);
        }
        let mut request = self
            .client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(layout.hash.name, KeyType::Hash)?);
        if let Some(range) = layout.range {
            request = request.key_schema(key(range.name, KeyType::Range)?);
        }
        for index in layout.indexes {
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .key_schema(key(index.hash.name, KeyType::Hash)?)
                    .key_schema(key(index.range.name, KeyType::Range)?)
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()?,
            );
        }
        for defined in table.key_attributes() {
            request = request.attribute_definitions(attribute(&defined)?);
        }
        if layout.stream {
            request = request.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewImage)
                    .build()?,
            );
        }
        request.send().await.map_err(failed(format!("creating table {name}")))?;
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

    async fn scan_items(&self, table: &str) -> Result<Vec<Item>, Unavailable> {
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
                .map_err(unavailable(SCAN))?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    async fn scan_all<T: DeserializeOwned>(&self, table: &str) -> Result<Vec<T>, Unavailable> {
        let items = self.scan_items(table).await?;
        items.into_iter().map(|item| from_item(SCAN, item)).collect()
    }
}

impl AdminStore for DynamoStore {
    async fn insert_collection(&self, collection: &Collection) -> Result<bool, Unavailable> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.collections)
            .set_item(Some(to_item(collection)))
            .condition_expression(format!("attribute_not_exists({})", collections::ID))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(false),
            Err(e) => Err(unavailable(INSERT_COLLECTION)(e)),
        }
    }

    async fn update_collection(&self, collection: &Collection) -> Result<bool, Unavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.collections)
            .key(collections::ID, s(collection.collection_id.as_str()))
            .update_expression(
                "SET #name = :name, notifyEmails = :notify, ticketingEnabled = :enabled, rateLimits = :limits, \
                 memberGenerations = :members, sharedLinksMailed = :shared",
            )
            .condition_expression(format!("attribute_exists({})", collections::ID))
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":name", s(collection.name.as_str()))
            .expression_attribute_values(
                ":notify",
                AttributeValue::L(collection.notify_emails.iter().map(|e| s(e.as_str())).collect()),
            )
            .expression_attribute_values(":enabled", AttributeValue::Bool(collection.ticketing_enabled))
            .expression_attribute_values(":limits", limits_value(&collection.rate_limits))
            .expression_attribute_values(
                ":members",
                serde_dynamo::to_attribute_value(&collection.member_generations).expect("a map of numbers"),
            )
            .expression_attribute_values(":shared", AttributeValue::Bool(collection.shared_links_mailed))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(false),
            Err(e) => Err(unavailable(UPDATE_COLLECTION)(e)),
        }
    }

    async fn list_collections(&self) -> Result<Vec<Collection>, Unavailable> {
        self.scan_all(&self.tables.collections).await
    }

    async fn insert_key(&self, hash: &ApiKeyHash, record: &ApiKeyRecord) -> Result<bool, Unavailable> {
        let mut item = to_item(record);
        item.insert(keys::HASH.into(), s(hash.as_str()));
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.api_keys)
            .set_item(Some(item))
            .condition_expression(format!("attribute_not_exists({})", keys::HASH))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(false),
            Err(e) => Err(unavailable(INSERT_KEY)(e)),
        }
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, Unavailable> {
        self.scan_all(&self.tables.api_keys).await
    }

    async fn revoke_key(&self, key_id: &str, at: &str) -> Result<Option<ApiKeyRecord>, Unavailable> {
        // Keys are looked up by hash on the request path; an operator names them by id, so find the hash first.
        let items = self.scan_items(&self.tables.api_keys).await?;
        let Some(hash) = items
            .into_iter()
            .find(|item| matches!(item.get("keyId"), Some(AttributeValue::S(id)) if id == key_id))
            .and_then(|mut item| item.remove(keys::HASH))
        else {
            return Ok(None);
        };
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.api_keys)
            .key(keys::HASH, hash)
            .update_expression("SET revokedAt = if_not_exists(revokedAt, :at)")
            .expression_attribute_values(":at", s(at))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(unavailable(REVOKE_KEY))?;
        out.attributes.map(|item| from_item(REVOKE_KEY, item)).transpose()
    }

    async fn ticket_mail(&self, id: &CollectionId, number: u64) -> Result<Vec<Mail>, Unavailable> {
        self.ticket_items(id, number, tickets::MAIL_PREFIX, TICKET_MAIL).await
    }
}
