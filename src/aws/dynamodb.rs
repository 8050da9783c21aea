//! DynamoDB: the `Store` port on three tables, and the operator's administration of them.
//!
//! | table | key | item |
//! | --- | --- | --- |
//! | collections | `collectionId` (S) | name, notifyEmails, ticketingEnabled, lastTicketNumber (the counter), createdAt, rateLimits, rateEven and rateOdd (abuse-limit counts) |
//! | API keys | `keyHash` (S): HMAC-SHA256 of the key | keyId, name, last4, collections, createdAt, revokedAt |
//! | tickets | `collectionId` (S) + `ticketNumber` (N) | the ticket, its e-mail records, the pending private link |
//! | idempotency | `scope` (S): `{collectionId}#{Idempotency-Key}` | fingerprint, state, ticketNumber, keyNonce, leaseUntil, expiresAt (TTL) |
//!
//! All SDK detail stays here: item mapping (serde_dynamo), condition expressions, and the translation of
//! conditional-check failures into what they mean.

use std::collections::HashMap;

use anyhow::Context as _;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::Tables;
use crate::domain::rate_limit::{DEFAULT_PER_KEY, DEFAULT_PER_REQUESTER};
use crate::domain::{
    ApiKeyHash, ApiKeyRecord, Collection, CollectionId, EmailDelivery, IdempotencyRecord, Quota, RateCount, Ticket,
};
use crate::ports::{Inserted, NumberTaken, Store, Unavailable};

type Item = HashMap<String, AttributeValue>;

/// The DynamoDB store. Cheap to clone: the client is shared.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    tables: Tables,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn to_item<T: Serialize>(value: &T) -> Item {
    serde_dynamo::to_item(value).expect("domain records map to DynamoDB items")
}

fn from_item<T: DeserializeOwned>(operation: &'static str, item: Item) -> Result<T, Unavailable> {
    serde_dynamo::from_item(item).map_err(|e| Unavailable::new(operation, anyhow::anyhow!("unreadable item: {e}")))
}

fn unavailable<E, R>(operation: &'static str) -> impl FnOnce(SdkError<E, R>) -> Unavailable
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |e| Unavailable::new(operation, anyhow::anyhow!("{}", super::describe(&e)))
}

impl DynamoStore {
    pub fn new(client: Client, tables: Tables) -> Self {
        Self { client, tables }
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    // ---- administration (ticketctl) -------------------------------------------------------------------------

    /// Creates the tables (on-demand) where they do not exist yet, and waits until they are active.
    pub async fn create_tables(&self) -> anyhow::Result<Vec<String>> {
        let specs: [(&str, &[(&str, ScalarAttributeType)]); 4] = [
            (&self.tables.collections, &[("collectionId", ScalarAttributeType::S)]),
            (&self.tables.api_keys, &[("keyHash", ScalarAttributeType::S)]),
            (
                &self.tables.tickets,
                &[("collectionId", ScalarAttributeType::S), ("ticketNumber", ScalarAttributeType::N)],
            ),
            (&self.tables.idempotency, &[("scope", ScalarAttributeType::S)]),
        ];
        let mut created = Vec::new();
        for (table, keys) in specs {
            let mut request = self.client.create_table().table_name(table).billing_mode(BillingMode::PayPerRequest);
            for (i, (name, kind)) in keys.iter().enumerate() {
                let key_type = if i == 0 { KeyType::Hash } else { KeyType::Range };
                request = request
                    .attribute_definitions(
                        AttributeDefinition::builder().attribute_name(*name).attribute_type(kind.clone()).build()?,
                    )
                    .key_schema(KeySchemaElement::builder().attribute_name(*name).key_type(key_type).build()?);
            }
            match request.send().await {
                Ok(_) => created.push(table.to_owned()),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {}
                Err(e) => return Err(anyhow::anyhow!("creating table {table}: {}", super::describe(&e))),
            }
            self.client
                .wait_until_table_exists()
                .table_name(table)
                .wait(std::time::Duration::from_secs(60))
                .await
                .with_context(|| format!("waiting for table {table}"))?;
        }
        // Remembered creates expire after a day: DynamoDB deletes them (eventually) by their expiresAt.
        self.client
            .update_time_to_live()
            .table_name(&self.tables.idempotency)
            .time_to_live_specification(
                aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                    .attribute_name("expiresAt")
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await
            .map(|_| ())
            .or_else(|e| match e.as_service_error().and_then(|e| e.meta().message()) {
                // Asking again once it is on is refused as a validation error: nothing to do.
                Some(m) if m.contains("already enabled") => Ok(()),
                _ => Err(anyhow::anyhow!("enabling TTL on {}: {}", self.tables.idempotency, super::describe(&e))),
            })?;
        Ok(created)
    }

    /// Stores a new collection; refuses to overwrite an existing one (its counter must never go back).
    pub async fn insert_collection(&self, collection: &Collection) -> anyhow::Result<()> {
        let mut item = to_item(collection);
        // The abuse-limit counts of even and odd windows (see `take_number`): both must exist before a create.
        for map in ["rateEven", "rateOdd"] {
            item.insert(map.into(), AttributeValue::M(HashMap::new()));
        }
        self.client
            .put_item()
            .table_name(&self.tables.collections)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(collectionId)")
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", super::describe(&e)))
            .with_context(|| format!("creating collection {}", collection.collection_id))?;
        Ok(())
    }

    /// Changes a collection's settings, never its counter.
    pub async fn update_collection(&self, collection: &Collection) -> anyhow::Result<()> {
        self.client
            .update_item()
            .table_name(&self.tables.collections)
            .key("collectionId", s(collection.collection_id.as_str()))
            .update_expression(
                "SET #name = :name, notifyEmails = :notify, ticketingEnabled = :enabled, rateLimits = :limits",
            )
            .condition_expression("attribute_exists(collectionId)")
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":name", s(collection.name.as_str()))
            .expression_attribute_values(
                ":notify",
                AttributeValue::L(collection.notify_emails.iter().map(|e| s(e.as_str())).collect()),
            )
            .expression_attribute_values(":enabled", AttributeValue::Bool(collection.ticketing_enabled))
            .expression_attribute_values(
                ":limits",
                serde_dynamo::to_attribute_value(collection.rate_limits).expect("limits map to a DynamoDB map"),
            )
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", super::describe(&e)))
            .with_context(|| format!("updating collection {}", collection.collection_id))?;
        Ok(())
    }

    pub async fn list_collections(&self) -> anyhow::Result<Vec<Collection>> {
        self.scan_all(&self.tables.collections).await
    }

    /// Stores a new API key record under its hash.
    pub async fn insert_key(&self, hash: &ApiKeyHash, record: &ApiKeyRecord) -> anyhow::Result<()> {
        let mut item = to_item(record);
        item.insert("keyHash".into(), s(hash.as_str()));
        self.client
            .put_item()
            .table_name(&self.tables.api_keys)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(keyHash)")
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("creating API key: {}", super::describe(&e)))?;
        Ok(())
    }

    pub async fn list_keys(&self) -> anyhow::Result<Vec<ApiKeyRecord>> {
        self.scan_all(&self.tables.api_keys).await
    }

    /// Marks the key with this id revoked. Returns false when no such key exists.
    pub async fn revoke_key(&self, key_id: &str, at: &str) -> anyhow::Result<bool> {
        // Keys are looked up by hash on the request path; an operator names them by id, so find the hash first.
        let items = self.scan_items(&self.tables.api_keys).await?;
        let Some(hash) = items
            .into_iter()
            .find(|item| matches!(item.get("keyId"), Some(AttributeValue::S(id)) if id == key_id))
            .and_then(|mut item| item.remove("keyHash"))
        else {
            return Ok(false);
        };
        self.client
            .update_item()
            .table_name(&self.tables.api_keys)
            .key("keyHash", hash)
            .update_expression("SET revokedAt = if_not_exists(revokedAt, :at)")
            .expression_attribute_values(":at", s(at))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("revoking key {key_id}: {}", super::describe(&e)))?;
        Ok(true)
    }

    /// The newest tickets of a collection first, at most `limit`.
    pub async fn list_tickets(&self, id: &CollectionId, limit: usize) -> anyhow::Result<Vec<Ticket>> {
        let mut tickets = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.tables.tickets)
                .key_condition_expression("collectionId = :c")
                .expression_attribute_values(":c", s(id.as_str()))
                .scan_index_forward(false)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("listing tickets of {id}: {}", super::describe(&e)))?;
            for item in page.items.unwrap_or_default() {
                tickets.push(from_item(LIST_TICKETS, item)?);
                if tickets.len() == limit {
                    return Ok(tickets);
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(tickets);
            }
        }
    }

    async fn scan_items(&self, table: &str) -> anyhow::Result<Vec<Item>> {
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
                .map_err(|e| anyhow::anyhow!("scanning {table}: {}", super::describe(&e)))?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    async fn scan_all<T: DeserializeOwned>(&self, table: &str) -> anyhow::Result<Vec<T>> {
        let items = self.scan_items(table).await?;
        Ok(items.into_iter().map(|item| from_item(SCAN, item)).collect::<Result<_, _>>()?)
    }
}

/// The condition of taking a number: the collection exists, takes tickets, and neither count of this create has
/// reached its limit (the collection's own, or the default when it has none).
const TAKE_NUMBER_CONDITION: &str = "attribute_exists(collectionId) AND ticketingEnabled = :enabled \
    AND (attribute_not_exists(#now.#key) OR #now.#key < rateLimits.perKey \
         OR (attribute_not_exists(rateLimits.perKey) AND #now.#key < :defaultPerKey)) \
    AND (attribute_not_exists(#now.#req) OR #now.#req < rateLimits.perRequester \
         OR (attribute_not_exists(rateLimits.perRequester) AND #now.#req < :defaultPerRequester))";

type UpdateError = SdkError<UpdateItemError, aws_smithy_runtime_api::http::Response>;

fn is_missing_map(e: &UpdateItemError) -> bool {
    use aws_smithy_types::error::metadata::ProvideErrorMetadata as _;
    e.code() == Some("ValidationException") && e.message().is_some_and(|m| m.contains("document path"))
}

fn is_item_full(e: &UpdateItemError) -> bool {
    use aws_smithy_types::error::metadata::ProvideErrorMetadata as _;
    e.code() == Some("ValidationException") && e.message().is_some_and(|m| m.contains("Item size"))
}

/// A count from a map of the counter item; absent is zero.
fn count_in(item: &Item, map: &str, entry: &str) -> u32 {
    match item.get(map) {
        Some(AttributeValue::M(counts)) => match counts.get(entry) {
            Some(AttributeValue::N(n)) => n.parse().unwrap_or(u32::MAX),
            _ => 0,
        },
        _ => 0,
    }
}

impl DynamoStore {
    /// One round trip does it all: checks the collection exists and takes tickets, checks and counts the abuse
    /// limits of this create in the current window's map, empties the other window's map, increments the
    /// counter (ADD on a missing attribute starts from 0, so the first ticket is 1), and returns the collection
    /// for the e-mails. A refused create changes nothing.
    async fn count_and_take(&self, id: &CollectionId, count: &RateCount) -> Result<UpdateItemOutput, UpdateError> {
        let (now, other) = count.maps();
        self.client
            .update_item()
            .table_name(&self.tables.collections)
            .key("collectionId", s(id.as_str()))
            .update_expression(
                "ADD lastTicketNumber :one \
                 SET #now.#key = if_not_exists(#now.#key, :zero) + :one, \
                     #now.#req = if_not_exists(#now.#req, :zero) + :one, #other = :empty",
            )
            .condition_expression(TAKE_NUMBER_CONDITION)
            .expression_attribute_names("#now", now)
            .expression_attribute_names("#other", other)
            .expression_attribute_names("#key", count.key_entry())
            .expression_attribute_names("#req", count.requester_entry())
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":empty", AttributeValue::M(HashMap::new()))
            .expression_attribute_values(":enabled", AttributeValue::Bool(true))
            .expression_attribute_values(":defaultPerKey", n(u64::from(DEFAULT_PER_KEY)))
            .expression_attribute_values(":defaultPerRequester", n(u64::from(DEFAULT_PER_REQUESTER)))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
    }

    /// Takes a number without counting or checking the abuse limits: only when the item has no room to count.
    async fn take_uncounted(&self, id: &CollectionId) -> Result<UpdateItemOutput, UpdateError> {
        self.client
            .update_item()
            .table_name(&self.tables.collections)
            .key("collectionId", s(id.as_str()))
            .update_expression("ADD lastTicketNumber :one")
            .condition_expression("attribute_exists(collectionId) AND ticketingEnabled = :enabled")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":enabled", AttributeValue::Bool(true))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
    }

    async fn add_count_maps(&self, id: &CollectionId) -> Result<(), Unavailable> {
        self.client
            .update_item()
            .table_name(&self.tables.collections)
            .key("collectionId", s(id.as_str()))
            .update_expression(
                "SET rateEven = if_not_exists(rateEven, :empty), rateOdd = if_not_exists(rateOdd, :empty)",
            )
            .condition_expression("attribute_exists(collectionId)")
            .expression_attribute_values(":empty", AttributeValue::M(HashMap::new()))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| match e.as_service_error() {
                // Gone in the meantime: the retried take answers NotFound.
                Some(e) if e.is_conditional_check_failed_exception() => Ok(()),
                _ => Err(unavailable(TAKE_NUMBER)(e)),
            })
    }
}

fn taken(out: UpdateItemOutput, count: &RateCount) -> Result<NumberTaken, Unavailable> {
    let item =
        out.attributes.ok_or_else(|| Unavailable::new(TAKE_NUMBER, anyhow::anyhow!("no attributes returned")))?;
    let (collection, quota) = collection_and_quota(item, count)?;
    Ok(NumberTaken::Taken(collection, quota))
}

/// What a refused take means, from the item as it was: missing, ticketing off, or a limit reached.
fn refused(e: UpdateError, count: &RateCount) -> Result<NumberTaken, Unavailable> {
    let old = match e {
        SdkError::ServiceError(e) if e.err().is_conditional_check_failed_exception() => match e.into_err() {
            UpdateItemError::ConditionalCheckFailedException(c) => c.item.unwrap_or_default(),
            _ => Item::new(),
        },
        e => return Err(unavailable(TAKE_NUMBER)(e)),
    };
    if old.is_empty() {
        return Ok(NumberTaken::NotFound);
    }
    let (collection, quota) = collection_and_quota(old, count)?;
    Ok(if collection.ticketing_enabled { NumberTaken::Limited(quota) } else { NumberTaken::Disabled })
}

/// The collection a counter item holds, and this create's quota from the counts in its current map.
fn collection_and_quota(item: Item, count: &RateCount) -> Result<(Collection, Quota), Unavailable> {
    let (now, _) = count.maps();
    let (key_used, requester_used) =
        (count_in(&item, now, count.key_entry()), count_in(&item, now, count.requester_entry()));
    let collection: Collection = from_item(TAKE_NUMBER, item)?;
    let quota = count.quota(collection.rate_limits, key_used, requester_used);
    Ok((collection, quota))
}

const FIND_KEY: &str = "DynamoDB GetItem (API key)";
const GET_COLLECTION: &str = "DynamoDB GetItem (collection)";
const TAKE_NUMBER: &str = "DynamoDB UpdateItem (ticket counter)";
const INSERT_TICKET: &str = "DynamoDB PutItem (ticket)";
const RECORD_EMAILS: &str = "DynamoDB UpdateItem (e-mail outcomes)";
const GET_TICKET: &str = "DynamoDB GetItem (ticket)";
const LIST_TICKETS: &str = "DynamoDB Query (tickets)";
const SCAN: &str = "DynamoDB Scan";
const CLAIM: &str = "DynamoDB PutItem (idempotency claim)";
const GET_CLAIM: &str = "DynamoDB GetItem (idempotency record)";
const COMPLETE: &str = "DynamoDB UpdateItem (idempotency completed)";
const RELEASE: &str = "DynamoDB DeleteItem (idempotency released)";

impl Store for DynamoStore {
    async fn find_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>, Unavailable> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.api_keys)
            .key("keyHash", s(hash.as_str()))
            // Strongly consistent: a revocation counts from the moment it is written.
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable(FIND_KEY))?;
        out.item.map(|item| from_item(FIND_KEY, item)).transpose()
    }

    async fn get_collection(&self, id: &CollectionId) -> Result<Option<Collection>, Unavailable> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.collections)
            .key("collectionId", s(id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable(GET_COLLECTION))?;
        out.item.map(|item| from_item(GET_COLLECTION, item)).transpose()
    }

    async fn take_number(&self, id: &CollectionId, count: &RateCount) -> Result<NumberTaken, Unavailable> {
        let result = match self.count_and_take(id, count).await {
            // A collection item written without the two count maps (by hand, say) gets them once, then goes on.
            Err(SdkError::ServiceError(e)) if is_missing_map(e.err()) => {
                self.add_count_maps(id).await?;
                self.count_and_take(id, count).await
            }
            // Limits set so high that one hour's counts fill the item (400 KB): tickets still come first.
            Err(SdkError::ServiceError(e)) if is_item_full(e.err()) => {
                tracing::error!(collection = %id, "the counter item is full: number taken without abuse limits");
                self.take_uncounted(id).await
            }
            result => result,
        };
        result.map_or_else(|e| refused(e, count), |out| taken(out, count))
    }

    async fn insert_ticket(&self, ticket: &Ticket) -> Result<Inserted, Unavailable> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.tickets)
            .set_item(Some(to_item(ticket)))
            .condition_expression("attribute_not_exists(collectionId)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Inserted::Stored),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                // The SDK retries a put whose reply was lost: if the ticket there is this one, it is stored.
                let existing = match e.into_err() {
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item,
                    _ => None,
                };
                let ours = existing
                    .and_then(|item| item.get("ticketKeyHash").cloned())
                    .is_some_and(|hash| hash == s(ticket.ticket_key_hash.as_str()));
                Ok(if ours { Inserted::Stored } else { Inserted::NumberInUse })
            }
            Err(e) => Err(unavailable(INSERT_TICKET)(e)),
        }
    }

    async fn record_emails(
        &self,
        id: &CollectionId,
        number: u64,
        emails: &[EmailDelivery],
        forget_link: bool,
    ) -> Result<(), Unavailable> {
        let emails = serde_dynamo::to_attribute_value(emails).expect("e-mail records map to a DynamoDB list");
        let expression =
            if forget_link { "SET emails = :emails REMOVE pendingPrivateUrl" } else { "SET emails = :emails" };
        self.client
            .update_item()
            .table_name(&self.tables.tickets)
            .key("collectionId", s(id.as_str()))
            .key("ticketNumber", n(number))
            .update_expression(expression)
            .condition_expression("attribute_exists(collectionId)")
            .expression_attribute_values(":emails", emails)
            .send()
            .await
            .map_err(unavailable(RECORD_EMAILS))?;
        Ok(())
    }

    async fn get_ticket(&self, id: &CollectionId, number: u64) -> Result<Option<Ticket>, Unavailable> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.tickets)
            .key("collectionId", s(id.as_str()))
            .key("ticketNumber", n(number))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable(GET_TICKET))?;
        out.item.map(|item| from_item(GET_TICKET, item)).transpose()
    }

    async fn claim_idempotency(
        &self,
        claim: &IdempotencyRecord,
        now: u64,
    ) -> Result<Option<IdempotencyRecord>, Unavailable> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.idempotency)
            .set_item(Some(to_item(claim)))
            // Free, expired (TTL deletes late), or abandoned mid-create past its lease.
            .condition_expression(
                "attribute_not_exists(#scope) OR expiresAt <= :now OR (#state = :in_progress AND leaseUntil <= :now)",
            )
            .expression_attribute_names("#scope", "scope")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":in_progress", s("in_progress"))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => match e.into_err() {
                aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                    c.item.map(|item| from_item(CLAIM, item)).transpose()
                }
                _ => unreachable!("checked to be a conditional check failure"),
            },
            Err(e) => Err(unavailable(CLAIM)(e)),
        }
    }

    async fn get_idempotency(&self, scope: &str) -> Result<Option<IdempotencyRecord>, Unavailable> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.idempotency)
            .key("scope", s(scope))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable(GET_CLAIM))?;
        out.item.map(|item| from_item(GET_CLAIM, item)).transpose()
    }

    async fn complete_idempotency(&self, scope: &str, nonce: &str, number: u64) -> Result<(), Unavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.idempotency)
            .key("scope", s(scope))
            .update_expression("SET #state = :completed, ticketNumber = :number")
            // Only our own claim: never a record another request took over, never a new partial item.
            .condition_expression("keyNonce = :nonce")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":completed", s("completed"))
            .expression_attribute_values(":number", n(number))
            .expression_attribute_values(":nonce", s(nonce))
            .send()
            .await;
        match result {
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Err(Unavailable::new(
                COMPLETE,
                anyhow::anyhow!("the claim is no longer this request's (its lease lapsed)"),
            )),
            other => other.map(|_| ()).map_err(unavailable(COMPLETE)),
        }
    }

    async fn release_idempotency(&self, scope: &str, nonce: &str) -> Result<(), Unavailable> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.tables.idempotency)
            .key("scope", s(scope))
            .condition_expression("#state = :in_progress AND keyNonce = :nonce")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":nonce", s(nonce))
            .send()
            .await;
        match result {
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(()),
            other => other.map(|_| ()).map_err(unavailable(RELEASE)),
        }
    }
}
